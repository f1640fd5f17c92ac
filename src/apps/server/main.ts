// Placeholder entry until the inference service lands: says what it will serve and exits cleanly.
console.log(
  'BlindDx: the inference service is not built yet; the he layer is available as a library (src/he).',
);
