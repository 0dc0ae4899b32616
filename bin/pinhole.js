#!/usr/bin/env node
// The `pinhole` command: runs the built CLI (npm ci builds it through the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/main/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('pinhole: the app is not built yet. Run `npm run build` in the Pinhole Studio folder.\n');
  process.exit(1);
}
await import(entry.href);
