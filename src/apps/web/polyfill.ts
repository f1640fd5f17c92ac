// Imported first by the page and the worker: `using` (lowered by the bundler for older browsers)
// and the `he` layer's handles need Symbol.dispose, which some browsers do not define yet.
const s = Symbol as unknown as { dispose?: symbol; asyncDispose?: symbol };
s.dispose ??= Symbol.for('Symbol.dispose');
s.asyncDispose ??= Symbol.for('Symbol.asyncDispose');
