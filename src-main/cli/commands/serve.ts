/** `pinhole serve [--host H] [--port P] [--token T]`: headless mode. */
import { parseArgs } from 'node:util';
import { createStudio } from '../../studio';
import { startServer, writeServerRecord } from '../../server';
import type { CommandContext } from '../command';
import { EXIT } from '../exit-codes';

export const SERVE_USAGE = 'pinhole serve [--host H] [--port P] [--token T] [--data-dir DIR]';

export async function serveCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '7860' },
      token: { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    ctx.out.info(`Invalid --port ${values.port}: expected 0-65535.`);
    return EXIT.USAGE;
  }
  // The token comes from the flag or the environment and is never written to disk.
  const token = values.token ?? process.env['PINHOLE_TOKEN'] ?? null;
  const studio = createStudio({ dataDir: ctx.dataDir, mode: 'headless', version: ctx.version, runJobs: 'all' });
  let server;
  try {
    server = await startServer(studio, { host: values.host, port, token, rendererDir: ctx.rendererDir });
  } catch (error) {
    await studio.dispose();
    throw error;
  }
  const removeRecord = writeServerRecord(studio.home.runtime, {
    pid: process.pid,
    url: server.url,
    tokenRequired: token !== null,
  });
  const shown = token ? `${server.url}?token=${encodeURIComponent(token)}` : server.url;
  process.stdout.write(`Pinhole Studio is serving at ${shown}\n`);
  ctx.out.info(`Data home: ${studio.home.root}. Press Ctrl-C to stop.`);

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  ctx.out.info('Stopping…');
  removeRecord();
  await server.close();
  await studio.dispose();
  return EXIT.OK;
}
