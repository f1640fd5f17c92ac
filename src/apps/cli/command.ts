import { type ParseArgsConfig, parseArgs } from 'node:util';

/** One `blinddx <name>` sub-command. Each lives in its own file under `commands/`. */
export interface CliCommand {
  readonly name: string;
  /** One line for `blinddx --help`. */
  readonly summary: string;
  /** Full text for `blinddx <name> --help`. */
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  readonly allowPositionals?: boolean;
  run(args: { values: Record<string, unknown>; positionals: string[] }): Promise<number | undefined>;
}

/** Parses argv for one command; `--help` is handled by the dispatcher. */
export function parseCommandArgs(cmd: CliCommand, argv: string[]) {
  return parseArgs({
    args: argv,
    options: { ...cmd.options, help: { type: 'boolean', short: 'h' } },
    allowPositionals: cmd.allowPositionals ?? false,
    strict: true,
  });
}

/** The one stderr line of a command that failed: `blinddx <name>: <CODE>: <message>` (the code when the error has one). */
export function failureLine(name: string, e: unknown): string {
  const code = (e as { code?: unknown }).code;
  return `blinddx ${name}: ${typeof code === 'string' ? `${code}: ` : ''}${(e as Error).message}`;
}
