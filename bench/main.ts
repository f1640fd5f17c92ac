// `npm run bench -- <name> [args]`: runs bench/<name>.ts, whose `run(args)` does the work. A bench
// is any bench/*.ts that exports `run` (files starting with `_` are helpers, not benches), so new
// benches need no registration here.

import { readdirSync } from 'node:fs';

/** What a bench module exports. */
export interface BenchModule {
  /** One line for `--help`. */
  readonly description?: string;
  /** Runs the bench with the arguments after its name (e.g. `--json`). */
  run(args: readonly string[]): Promise<void>;
}

const dir = new URL('./', import.meta.url);

/** Names of the available benches (bench/<name>.ts). */
export function benchNames(): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && f !== 'main.ts' && !f.startsWith('_') && !f.endsWith('.test.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function load(name: string): Promise<BenchModule> {
  const mod = (await import(new URL(`./${name}.ts`, dir).href)) as Partial<BenchModule>;
  if (typeof mod.run !== 'function') throw new Error(`bench/${name}.ts does not export run(args)`);
  return mod as BenchModule;
}

async function usage(): Promise<string> {
  const lines = ['usage: npm run bench -- <name> [--json] [bench options]', '', 'benches:'];
  for (const name of benchNames()) {
    const { description } = await load(name);
    lines.push(`  ${name.padEnd(12)} ${description ?? ''}`);
  }
  lines.push('', 'Run `npm run bench -- <name> --help` for a bench’s own options.');
  return lines.join('\n');
}

const [name, ...rest] = process.argv.slice(2);
if (name === undefined || name === '--help' || name === '-h') {
  console.log(await usage());
  process.exit(name === undefined ? 2 : 0);
}
if (!benchNames().includes(name)) {
  console.error(`unknown bench "${name}"\n\n${await usage()}`);
  process.exit(2);
}
await (await load(name)).run(rest);
