/**
 * The `pinhole` command line. Every command takes --data-dir DIR (else PINHOLE_HOME, else
 * ~/.pinhole) and works standalone on it, or through a server already running there.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PinholeError, serializeError } from '../../src-shared/errors';
import { resolveDataDir } from '../platform/data-home';
import { readAppVersion } from '../platform/version';
import type { CommandContext } from './command';
import { generateCommand, GENERATE_USAGE } from './commands/generate';
import { importCommand, IMPORT_USAGE } from './commands/import';
import { jobsCommand, JOBS_USAGE } from './commands/jobs';
import { modelsCommand, MODELS_USAGE } from './commands/models';
import { serveCommand, SERVE_USAGE } from './commands/serve';
import { tokenizeCommand, TOKENIZE_USAGE } from './commands/tokenize';
import { trainCommand, TRAIN_USAGE } from './commands/train';
import { EXIT, exitCodeFor } from './exit-codes';
import { createOutput } from './output';

// The bundle lives at dist/main/cli/main.js; the renderer at dist/renderer; package.json at the root.
const here = path.dirname(fileURLToPath(import.meta.url));
const RENDERER_DIR = path.resolve(here, '../../renderer');
const PACKAGE_JSON = new URL('../../../package.json', import.meta.url);

const USAGE = `Pinhole Studio — train and generate on your own GPU.

Usage:
  ${SERVE_USAGE}
  ${IMPORT_USAGE}
  ${GENERATE_USAGE}
  ${TRAIN_USAGE}
  ${JOBS_USAGE}
  ${MODELS_USAGE}
  ${TOKENIZE_USAGE}

Every command takes --data-dir DIR (default: $PINHOLE_HOME or ~/.pinhole).
Exit codes: 0 ok, 1 failed, 2 usage, 3 data home unusable, 4 not found, 5 server unavailable or refused, 130 cancelled.`;

/** Splits out the global --data-dir option (accepted anywhere, as `--data-dir X` or `--data-dir=X`). */
export function extractDataDir(argv: string[]): { dataDir: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let dataDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--data-dir') {
      dataDir = argv[++i];
      if (dataDir === undefined) throw new PinholeError('INVALID_PARAMS', '--data-dir needs a folder');
    } else if (arg.startsWith('--data-dir=')) {
      dataDir = arg.slice('--data-dir='.length);
    } else {
      rest.push(arg);
    }
  }
  return { dataDir, rest };
}

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const out = createOutput(json);
  try {
    const { dataDir, rest } = extractDataDir(argv);
    const [command, ...args] = rest;
    const version = readAppVersion(PACKAGE_JSON);
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      out.info(USAGE, true);
      return command === undefined ? EXIT.USAGE : EXIT.OK;
    }
    if (command === '--version' || command === 'version') {
      out.info(version, true);
      return EXIT.OK;
    }
    const ctx: CommandContext = { dataDir: resolveDataDir(dataDir), version, out, rendererDir: RENDERER_DIR };
    switch (command) {
      case 'serve':
        return await serveCommand(ctx, args);
      case 'import':
        return await importCommand(ctx, args);
      case 'generate':
        return await generateCommand(ctx, args);
      case 'train':
        return await trainCommand(ctx, args);
      case 'jobs':
        return await jobsCommand(ctx, args);
      case 'models':
        return await modelsCommand(ctx, args);
      case 'tokenize':
        return await tokenizeCommand(ctx, args);
      default:
        throw new PinholeError('INVALID_PARAMS', `Unknown command "${command}".\n\n${USAGE}`);
    }
  } catch (error) {
    out.endProgress();
    const wire = serializeError(
      isArgError(error) ? new PinholeError('INVALID_PARAMS', (error as Error).message) : error,
    );
    if (json) out.line({ error: wire });
    out.info(`pinhole: ${wire.message}`);
    return exitCodeFor(wire.code);
  }
}

/** parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for unknown or malformed flags. */
function isArgError(error: unknown): boolean {
  return error instanceof Error && String((error as NodeJS.ErrnoException).code ?? '').startsWith('ERR_PARSE_ARGS');
}

const exitCode = await main(process.argv.slice(2));
// Let stdout drain before exiting (a pipe may still hold JSON lines).
process.stdout.write('', () => process.exit(exitCode));
