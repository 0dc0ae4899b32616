import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { createStudio } from '../../src-main/studio';
import { makeTempDir } from '../helpers/temp-dir';

it('removes the batch of an upload cancelled before it ran, and stray batches at start', async () => {
  const tmp = makeTempDir();
  const dataDir = path.join(tmp.dir, 'home');
  // A studio that runs nothing keeps the job queued.
  const idle = createStudio({ dataDir, mode: 'headless', version: 't', runJobs: 'none' });
  const batch = path.join(idle.home.uploads, 'upload_a');
  mkdirSync(batch);
  writeFileSync(path.join(batch, 'a.jpg'), 'x');
  const { jobId } = idle.importUploads('Set', batch);
  const waiting = path.join(idle.home.uploads, 'upload_b');
  mkdirSync(waiting);
  writeFileSync(path.join(waiting, 'b.jpg'), 'x');
  idle.importUploads('Set', waiting);
  const stray = path.join(idle.home.uploads, 'upload_stray');
  mkdirSync(stray);
  await idle.api['jobs.cancel']({ jobId });
  expect(existsSync(batch)).toBe(false);
  await idle.dispose();

  // A full runner sweeps the batches no job will import.
  const runner = createStudio({ dataDir, mode: 'headless', version: 't', runJobs: 'all' });
  expect(existsSync(stray)).toBe(false);
  await runner.dispose();
  tmp.cleanup();
});
