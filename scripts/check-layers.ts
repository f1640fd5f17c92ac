// Enforces the layer map of DESIGN.md: imports point downward only, node-seal is reached through
// `he` alone, and browser-capable layers keep Node built-ins in `*.node.ts` files or `node/` folders.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const src = join(root, 'src');

/** Which layers each layer may import. Anything not listed is a violation. */
const allowed: Readonly<Record<string, readonly string[]>> = {
  he: ['he'],
  nn: ['nn', 'he'],
  protocol: ['protocol', 'nn', 'he'],
  client: ['client', 'protocol', 'nn', 'he'],
  server: ['server', 'protocol', 'nn', 'he'],
  apps: ['apps', 'client', 'server', 'protocol', 'nn', 'he'],
};
const browserLayers = new Set(['he', 'nn', 'protocol', 'client']);

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : /\.(ts|tsx|mts)$/.test(name) ? [p] : [];
  });
}

const importRe =
  /(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
const problems: string[] = [];

export function layerOf(file: string): string {
  return relative(src, file).split(sep)[0];
}

for (const file of walk(src)) {
  const layer = layerOf(file);
  const rel = relative(root, file);
  if (!(layer in allowed)) {
    problems.push(`${rel}: unknown layer "${layer}" (expected one of ${Object.keys(allowed).join(', ')})`);
    continue;
  }
  const isNodeOnly = /\.node\.ts$|\.test\.ts$/.test(file) || file.split(sep).includes('node');
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2];
    if (spec.startsWith('.')) {
      const target = resolve(file, '..', spec);
      if (!target.startsWith(src + sep)) continue;
      const targetLayer = layerOf(target);
      if (!allowed[layer].includes(targetLayer)) {
        problems.push(`${rel}: layer "${layer}" must not import layer "${targetLayer}" (${spec})`);
      }
    } else if (spec === 'node-seal' || spec.startsWith('node-seal/')) {
      if (layer !== 'he') problems.push(`${rel}: only the he layer may import node-seal`);
    } else if (
      (spec.startsWith('node:') || spec === 'worker_threads') &&
      browserLayers.has(layer) &&
      !isNodeOnly
    ) {
      problems.push(
        `${rel}: browser-capable layer "${layer}" imports ${spec}; move it to a *.node.ts file or a node/ folder`,
      );
    }
  }
}

if (problems.length > 0) {
  console.error(`layer check: ${problems.length} problem(s)\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('layer check: ok');
