import type { CliCommand } from '../command.ts';
import { auditCommand } from './audit.ts';
import { bundleCommand } from './bundle.ts';
import { demoCommand } from './demo.ts';
import { diagnoseCommand } from './diagnose.ts';
import { evalCommand } from './eval.ts';
import { historyCommand } from './history.ts';
import { keygenCommand } from './keygen.ts';
import { orgCommand } from './org.ts';
import { serveCommand } from './serve.ts';
import { signCommand } from './sign.ts';
import { tilesCommand } from './tiles.ts';
import { trainCommand } from './train.ts';
import { verifyCommand } from './verify.ts';

/** Every `blinddx` command, in the order `--help` lists them. */
export const commands: readonly CliCommand[] = [
  trainCommand,
  evalCommand,
  demoCommand,
  diagnoseCommand,
  tilesCommand,
  bundleCommand,
  keygenCommand,
  historyCommand,
  serveCommand,
  orgCommand,
  signCommand,
  verifyCommand,
  auditCommand,
];
