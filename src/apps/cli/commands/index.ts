import type { CliCommand } from '../command.ts';
import { demoCommand } from './demo.ts';
import { evalCommand } from './eval.ts';
import { historyCommand } from './history.ts';
import { keygenCommand } from './keygen.ts';
import { trainCommand } from './train.ts';

/** Every `blinddx` command, in the order `--help` lists them. */
export const commands: readonly CliCommand[] = [
  trainCommand,
  evalCommand,
  demoCommand,
  keygenCommand,
  historyCommand,
];
