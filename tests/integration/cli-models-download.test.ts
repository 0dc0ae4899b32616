/**
 * `pinhole models download` as a user runs it, against a local HTTP server: a plain download
 * lands in the library byte-identical; a process SIGKILLed mid-download leaves its `.part`,
 * and `pinhole jobs run` or the same `models download` again continues it with a Range request.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { jsonLines, runCli, spawnCli } from '../helpers/cli';
import { startDownloadServer, tinyLoraFile, type DownloadServer } from '../helpers/download-server';
import { makeTempDir } from '../helpers/temp-dir';

const LORA = tinyLoraFile(900_000, 11);
const SHA = createHash('sha256').update(LORA).digest('hex');
let server: DownloadServer;
let temp: ReturnType<typeof makeTempDir>;

beforeAll(async () => {
  temp = makeTempDir('pinhole-cli-download-');
  server = await startDownloadServer({
    '/fast/lcm-lora.safetensors': { type: 'file', body: LORA },
    // ~2 s for the whole file: time to kill the process part-way.
    '/slow/lcm-lora.safetensors': { type: 'file', body: LORA, bytesPerSecond: 450_000 },
  });
});
afterAll(async () => {
  await server.close();
  temp.cleanup();
});

/** Starts a download and SIGKILLs the process once it reported `atLeast` bytes. */
async function killMidDownload(dataDir: string, url: string, atLeast: number): Promise<number> {
  const child = spawnCli(['models', 'download', url, '--sha256', SHA, '--json', '--data-dir', dataDir]);
  let buffered = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    let reached = 0;
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const event = JSON.parse(line) as { event: string; bytes?: number };
        if (event.event === 'progress' && (event.bytes ?? 0) >= atLeast && reached === 0) {
          reached = event.bytes!;
          child.kill('SIGKILL');
        }
      }
    });
    child.on('exit', (code, signal) =>
      signal === 'SIGKILL' ? resolve(reached) : reject(new Error(`exited ${code} before the kill: ${stderr}`)),
    );
  });
}

function resumedFrom(path: string, after: number): number[] {
  return server.requests
    .slice(after)
    .filter((r) => r.path === path && r.range !== null)
    .map((r) => Number(/^bytes=(\d+)-$/.exec(r.range!)![1]));
}

it('downloads into the library, verified and byte-identical, with JSON progress lines', async () => {
  const dataDir = path.join(temp.dir, 'plain');
  const run = await runCli([
    'models',
    'download',
    `${server.origin}/fast/lcm-lora.safetensors`,
    '--sha256',
    SHA,
    '--name',
    'lcm test',
    '--json',
    '--data-dir',
    dataDir,
  ]);
  expect(run.code, run.stderr).toBe(0);
  const lines = jsonLines(run.stdout);
  const done = lines.at(-1)!;
  expect(done).toMatchObject({ event: 'done', sha256: SHA, verified: true, bytes: LORA.length });
  expect(lines.slice(0, -1).every((l) => l['event'] === 'progress')).toBe(true);
  expect(readFileSync(done['file'] as string).equals(LORA)).toBe(true);
  expect(path.resolve(done['file'] as string).startsWith(path.resolve(dataDir))).toBe(true);
});

it('refuses plain http off loopback and a wrong hash, with exit codes a script can act on', async () => {
  const dataDir = path.join(temp.dir, 'refused');
  const http = await runCli(['models', 'download', 'http://example.com/m.safetensors', '--data-dir', dataDir]);
  expect(http.code).toBe(2);
  expect(http.stderr).toMatch(/HTTPS/);
  const wrong = await runCli([
    'models',
    'download',
    `${server.origin}/fast/lcm-lora.safetensors`,
    '--sha256',
    '0'.repeat(64),
    '--data-dir',
    dataDir,
  ]);
  expect(wrong.code).toBe(1);
  expect(wrong.stderr).toMatch(/SHA-256.*deleted/);
});

it('continues after SIGKILL with a Range request, from `jobs run` and from the same command', async () => {
  const url = `${server.origin}/slow/lcm-lora.safetensors`;
  for (const resume of ['jobs run', 'models download'] as const) {
    const dataDir = path.join(temp.dir, `killed-${resume.replace(' ', '-')}`);
    const seen = server.requests.length;
    const reached = await killMidDownload(dataDir, url, 200_000);
    expect(reached).toBeGreaterThanOrEqual(200_000);
    expect(reached).toBeLessThan(LORA.length);

    const again =
      resume === 'jobs run'
        ? await runCli(['jobs', 'run', '--data-dir', dataDir])
        : await runCli(['models', 'download', url, '--sha256', SHA, '--json', '--data-dir', dataDir]);
    expect(again.code, again.stderr).toBe(0);
    // The second process asked only for what the first one had not written.
    const ranges = resumedFrom('/slow/lcm-lora.safetensors', seen);
    expect(ranges).toHaveLength(1);
    expect(ranges[0]).toBeGreaterThanOrEqual(reached);
    expect(ranges[0]).toBeLessThan(LORA.length);

    const jobs = jsonLines((await runCli(['jobs', '--json', '--data-dir', dataDir])).stdout);
    const downloads = jobs.filter((j) => j['kind'] === 'download');
    expect(downloads).toHaveLength(1);
    expect(downloads[0]).toMatchObject({ state: 'succeeded', attempts: 2 });
    const result = downloads[0]!['result'] as { file: string; sha256: string };
    expect(result.sha256).toBe(SHA);
    expect(readFileSync(result.file).equals(LORA)).toBe(true);
  }
});
