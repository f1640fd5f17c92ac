// `blinddx` entry: dispatches to one command per file in ./commands.
import type { CliCommand } from './command.ts';
import { parseCommandArgs } from './command.ts';
import { commands } from './commands/index.ts';

function help(list: readonly CliCommand[]): string {
  const width = Math.max(...list.map((c) => c.name.length), 4);
  return [
    'blinddx — private medical AI over homomorphic encryption',
    '',
    'usage: blinddx <command> [options]   (blinddx <command> --help for details)',
    '',
    'commands:',
    ...list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help(commands));
    return name === undefined ? 2 : 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (cmd === undefined) {
    console.error(`blinddx: unknown command "${name}"\n\n${help(commands)}`);
    return 2;
  }
  let parsed: ReturnType<typeof parseCommandArgs>;
  try {
    parsed = parseCommandArgs(cmd, rest);
  } catch (e) {
    console.error(`blinddx ${name}: ${(e as Error).message}\n\n${cmd.usage}`);
    return 2;
  }
  if (parsed.values.help === true) {
    console.log(cmd.usage);
    return 0;
  }
  return (
    (await cmd.run({ values: parsed.values as Record<string, unknown>, positionals: parsed.positionals })) ??
    0
  );
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
