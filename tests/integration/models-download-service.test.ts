/**
 * The download service over a real queue (SQLite): catalogue entries and unverified downloads,
 * starting the same file twice, taking over a failed download's bytes, pause/resume, and the
 * sweep of `.part` files no job will continue.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDownloadJobHandler, DownloadService, MemoryTokenStore } from '../../src-main/models/download';
import { JobQueue } from '../../src-main/queue';
import { openDatabase, type Database } from '../../src-main/storage/database';
import { folderSink } from '../helpers/download-server';
import { makeTempDir } from '../helpers/temp-dir';

let temp: ReturnType<typeof makeTempDir>;
let db: Database;
let queue: JobQueue;
let service: DownloadService;
let downloads: string;

beforeEach(() => {
  temp = makeTempDir('pinhole-download-service-');
  downloads = path.join(temp.dir, 'downloads');
  mkdirSync(downloads);
  db = openDatabase(path.join(temp.dir, 'pinhole.db'));
  queue = new JobQueue(db);
  queue.register(
    createDownloadJobHandler({
      home: { downloads },
      tokens: new MemoryTokenStore({}),
      sink: folderSink(path.join(temp.dir, 'models')),
    }),
  );
  // Not started: the jobs stay where the service puts them.
  service = new DownloadService(queue, downloads);
});
afterEach(async () => {
  await queue.dispose();
  db.close();
  temp.cleanup();
});

const SHA = 'ab'.repeat(32);

describe('DownloadService', () => {
  it('queues a catalogue entry with its hash, size and license', () => {
    const started = service.start({ catalogueId: 'sdxl-base' });
    expect(started).toMatchObject({ resumed: false, verified: true, license: { name: 'CreativeML Open RAIL++-M' } });
    expect(queue.get(started.jobId)).toMatchObject({
      kind: 'download',
      lane: 'cpu',
      title: 'Download Stable Diffusion XL base 1.0',
      params: {
        url: 'https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/resolve/main/sd_xl_base_1.0.safetensors',
        sha256: '31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b',
        expectedBytes: 6_938_078_334,
      },
    });
  });

  it('knows a catalogue model by its URL too', () => {
    const started = service.start({
      url: 'https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/resolve/main/v1-5-pruned-emaonly.safetensors',
    });
    expect(started).toMatchObject({ verified: true, license: { name: 'CreativeML OpenRAIL-M' } });
    expect(queue.get(started.jobId).params).toMatchObject({
      expectedBytes: 4_265_146_304,
      name: 'Stable Diffusion 1.5',
    });
  });

  it('asks for confirmation before a download that cannot be verified', () => {
    expect(() => service.start({ catalogueId: 'sd21' })).toThrow(/cannot be verified/);
    expect(() => service.start({ url: 'https://example.com/m.safetensors' })).toThrow(/cannot be verified/);
    const started = service.start({ catalogueId: 'sd21', allowUnverified: true });
    expect(started.verified).toBe(false);
    expect(queue.get(started.jobId).params).toMatchObject({ sha256: null, expectedBytes: null });
    expect(() => service.start({ url: 'http://example.com/m', sha256: SHA })).toThrow(/HTTPS/);
    expect(() => service.start({ catalogueId: 'nope' })).toThrow(/No model "nope"/);
  });

  it('continues the unfinished download of the same file instead of starting another', () => {
    const first = service.start({ url: 'https://example.com/m.safetensors', sha256: SHA.toUpperCase() });
    const again = service.start({ url: 'https://example.com/m.safetensors', sha256: SHA });
    expect(again).toMatchObject({ jobId: first.jobId, resumed: true });
    expect(queue.get(first.jobId).state).toBe('queued');
    // Another hash is another file.
    expect(service.start({ url: 'https://example.com/m.safetensors', sha256: 'cd'.repeat(32) }).jobId).not.toBe(
      first.jobId,
    );

    service.pause(first.jobId);
    expect(queue.get(first.jobId).state).toBe('paused');
    expect(service.start({ url: 'https://example.com/m.safetensors', sha256: SHA }).jobId).toBe(first.jobId);
    expect(queue.get(first.jobId).state).toBe('queued');
  });

  it("takes over a failed download's bytes in a new job", () => {
    const first = service.start({ url: 'https://example.com/m.safetensors', sha256: SHA });
    db.prepare(`UPDATE jobs SET state = 'failed' WHERE id = ?`).run(first.jobId);
    writeFileSync(path.join(downloads, `${first.jobId}.part`), Buffer.alloc(1000));
    const next = service.start({ url: 'https://example.com/m.safetensors', sha256: SHA });
    expect(next.jobId).not.toBe(first.jobId);
    expect(next.resumed).toBe(true);
    expect(queue.get(next.jobId).params).toMatchObject({ adoptPartOf: first.jobId });
  });

  it('pauses and resumes only downloads', () => {
    const job = service.start({ url: 'https://example.com/m.safetensors', sha256: SHA });
    expect(service.pause(job.jobId).state).toBe('paused');
    expect(service.resume(job.jobId).state).toBe('queued');
    expect(() => service.resume(job.jobId)).toThrow(/not paused/);
    expect(() => service.pause('job_missing')).toThrow(/No job/);
  });

  it('sweeps .part files of jobs that ended for good or no longer exist', () => {
    const kept = service.start({ url: 'https://example.com/a.safetensors', sha256: SHA }).jobId;
    const canceled = service.start({ url: 'https://example.com/b.safetensors', sha256: SHA }).jobId;
    queue.cancel(canceled);
    const gone = 'job_00000000000000000000';
    for (const id of [kept, canceled, gone]) writeFileSync(path.join(downloads, `${id}.part`), 'x');
    writeFileSync(path.join(downloads, 'not-ours.txt'), 'x');
    service.sweep();
    expect(readdirSync(downloads).sort()).toEqual([`${kept}.part`, 'not-ours.txt'].sort());
  });
});
