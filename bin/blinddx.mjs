#!/usr/bin/env node
// Thin launcher so `npx blinddx` works; the CLI itself is TypeScript run by Node 24 type stripping.
import { main } from '../src/apps/cli/main.ts';
process.exitCode = await main(process.argv.slice(2));
