/**
 * Starts the real headless studio (`pinhole serve`) as a child process on a free port with
 * its own temporary data home, and stops it again. Tests talk to it only through a browser.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const CLI = path.join(ROOT, 'bin/pinhole.js');
const READY = /Pinhole Studio is serving at (\S+)/;
const START_TIMEOUT_MS = 30_000;

/** A running server. */
export type StudioServer = {
  /** The address to open, including `?token=` when the server has one. */
  readonly url: string;
  /** The origin (`http://127.0.0.1:PORT`). */
  readonly origin: string;
  readonly dataDir: string;
  /** Everything the server wrote to stderr (for failure messages). */
  stderr(): string;
  /** Stops the process but keeps the data home, so `restart` can bring the same studio back. */
  halt(): Promise<void>;
  /** Starts the process again on the same port and data home. */
  restart(): Promise<void>;
  /** Stops the server and deletes its data home. */
  stop(): Promise<void>;
};

/** Fails fast with a clear message when the app was not built (`npm test` builds first). */
function requireBuild(): void {
  for (const file of ['dist/main/cli/main.js', 'dist/renderer/index.html']) {
    if (!existsSync(path.join(ROOT, file))) {
      throw new Error(`${file} is missing: run \`npm run build\` before the e2e tests.`);
    }
  }
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Stops a server process: SIGTERM for a clean database close, SIGKILL if it hangs. */
async function terminate(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  if (!(await waitForExit(child, 10_000))) {
    child.kill('SIGKILL');
    await waitForExit(child, 5_000);
  }
}

type Spawned = { child: ChildProcess; url: string };

/** Extra environment for the server; `undefined` removes a variable. */
export type ServerEnv = Record<string, string | undefined>;

/** Runs `pinhole serve` and resolves once it prints its address. */
function spawnServe(args: string[], extraEnv: ServerEnv, onStderr: (chunk: string) => void): Promise<Spawned> {
  // PINHOLE_TOKEN and PINHOLE_MODELS from the developer's shell must not leak into the test server.
  const env = { ...process.env };
  delete env['PINHOLE_TOKEN'];
  delete env['PINHOLE_MODELS'];
  for (const [key, value] of Object.entries(extraEnv)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    onStderr(chunk);
  });
  return new Promise<Spawned>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pinhole serve did not start in ${START_TIMEOUT_MS} ms.\n${stderr}`));
    }, START_TIMEOUT_MS);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = READY.exec(line);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`pinhole serve exited (${signal ?? code}) before it was ready.\n${stderr}`));
    });
  });
}

/** Options: a token to require, and extra environment (e.g. `PINHOLE_ENGINE_CACHE`). */
export type StudioServerOptions = { token?: string; env?: ServerEnv };

/** Starts `pinhole serve --port 0` in a fresh data home. */
export async function startStudioServer(options: StudioServerOptions = {}): Promise<StudioServer> {
  requireBuild();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'pinhole-e2e-'));
  const tokenArgs = options.token ? ['--token', options.token] : [];
  const env = options.env ?? {};
  let stderr = '';
  const collect = (chunk: string): void => {
    stderr += chunk;
  };

  let running: Spawned;
  try {
    running = await spawnServe(['--data-dir', dataDir, '--port', '0', ...tokenArgs], env, collect);
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const url = running.url;
  const port = new URL(url).port;
  let current: ChildProcess | null = running.child;

  return {
    url,
    origin: new URL(url).origin,
    dataDir,
    stderr: () => stderr,
    async halt() {
      if (current) await terminate(current);
      current = null;
    },
    async restart() {
      if (current) await terminate(current);
      current = (await spawnServe(['--data-dir', dataDir, '--port', port, ...tokenArgs], env, collect)).child;
    },
    async stop() {
      if (current) await terminate(current);
      current = null;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
