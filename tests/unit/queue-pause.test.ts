import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CanceledError } from '../../src-shared/errors';
import type { JobProgress } from '../../src-shared/api';
import { JobQueue, type JobHandler } from '../../src-main/queue';
import { ProgressTracker } from '../../src-main/queue/progress-tracker';
import { openDatabase, type Database } from '../../src-main/storage/database';
import { MIGRATIONS } from '../../src-main/storage/migrations';
import { makeTempDir } from '../helpers/temp-dir';

type Params = { steps: number };
type Checkpoint = { done: number };

/**
 * A resumable job: one step per tick, a checkpoint after each; on abort it saves its position
 * first (as the training engine writes a checkpoint on abort), then stops.
 */
function resumable(log: string[]): JobHandler<Params, { from: number; done: number }, Checkpoint> {
  return {
    kind: 'train',
    lane: 'gpu',
    params: z.object({ steps: z.number().int().positive() }),
    title: () => 'resumable',
    run: async (ctx, p) => {
      const from = ctx.checkpoint?.done ?? 0;
      log.push(`start at ${from} (attempt ${ctx.attempt})`);
      for (let done = from; done < p.steps; done++) {
        if (ctx.signal.aborted) {
          ctx.saveCheckpoint({ done });
          throw new CanceledError();
        }
        await new Promise((r) => setTimeout(r, 5));
        ctx.saveCheckpoint({ done: done + 1 });
        ctx.progress({ step: done + 1, total: p.steps });
      }
      return { from, done: p.steps };
    },
  };
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('JobQueue pause and resume', () => {
  let db: Database;
  let cleanup: () => void;
  let queue: JobQueue;

  beforeEach(() => {
    const tmp = makeTempDir();
    cleanup = tmp.cleanup;
    db = openDatabase(path.join(tmp.dir, 'q.db'));
  });
  afterEach(async () => {
    await queue.dispose();
    db.close();
    cleanup();
  });

  it('pauses a running job with its checkpoint, resumes it from there, and finishes once', async () => {
    const log: string[] = [];
    queue = new JobQueue(db);
    queue.register(resumable(log));
    queue.start();
    const job = queue.enqueue('train', { steps: 400 });
    await until(() => (queue.get(job.id).progress?.step ?? 0) >= 3);
    queue.pause(job.id);
    await until(() => queue.get(job.id).state === 'paused');
    const paused = queue.get(job.id);
    expect(paused.finishedAt).toBeNull();
    const pausedAt = paused.progress!.step;
    expect(pausedAt).toBeGreaterThanOrEqual(3);
    expect(pausedAt).toBeLessThan(400);
    await queue.whenIdle(); // a paused job is not waiting to run

    expect(queue.resume(job.id).state).toBe('queued');
    const final = await queue.waitFor(job.id);
    expect(final.state).toBe('succeeded');
    const result = final.result as { from: number; done: number };
    expect(result.done).toBe(400);
    expect(result.from).toBeGreaterThanOrEqual(pausedAt);
    expect(log).toHaveLength(2);
    // A pause is no failed attempt: the paused run is not counted, so the resumed one is attempt 1.
    expect(log[1]).toMatch(/^start at \d+ \(attempt 1\)$/);
  });

  it('pauses a queued job at once and cancels a paused one', async () => {
    queue = new JobQueue(db);
    queue.register(resumable([]));
    const job = queue.enqueue('train', { steps: 2 });
    expect(queue.pause(job.id).state).toBe('paused');
    queue.start();
    await queue.whenIdle();
    expect(queue.get(job.id).state).toBe('paused');
    expect(queue.cancel(job.id).state).toBe('canceled');
    expect(() => queue.resume(job.id)).toThrow(/canceled, not paused/);
    expect(() => queue.pause(job.id)).toThrow(/already ended/);
  });

  it('honours a pause requested by another process through the database', async () => {
    queue = new JobQueue(db, { pollMs: 10 });
    queue.register(resumable([]));
    queue.start();
    const job = queue.enqueue('train', { steps: 200 });
    await until(() => (queue.get(job.id).progress?.step ?? 0) >= 2);
    // Another process sees the job running elsewhere and only sets the flag.
    const other = new JobQueue(db);
    other.register(resumable([]));
    expect(other.pause(job.id).state).toBe('running');
    await other.dispose();
    await until(() => queue.get(job.id).state === 'paused');
  });
});

describe('migration 0003 (paused jobs)', () => {
  it('keeps jobs and import results and accepts the paused state', () => {
    const tmp = makeTempDir();
    try {
      const file = path.join(tmp.dir, 'm.db');
      const before = MIGRATIONS.filter((m) => m.version < 3);
      const old = openDatabase(file, { migrations: before });
      old
        .prepare(
          `INSERT INTO jobs (id, seq, kind, lane, state, title, params, created_at) VALUES ('j1', 1, 'import', 'cpu', 'succeeded', 't', '{}', 1)`,
        )
        .run();
      old.prepare(`INSERT INTO import_results (job_id, idx, file, status) VALUES ('j1', 0, 'a.jpg', 'accepted')`).run();
      expect(() => old.prepare(`UPDATE jobs SET state = 'paused' WHERE id = 'j1'`).run()).toThrow(/CHECK/);
      old.close();

      const db = openDatabase(file);
      expect(db.prepare('SELECT id, state FROM jobs').all()).toEqual([{ id: 'j1', state: 'succeeded' }]);
      expect(db.prepare('SELECT job_id, file FROM import_results').all()).toEqual([{ job_id: 'j1', file: 'a.jpg' }]);
      db.prepare(`UPDATE jobs SET state = 'paused' WHERE id = 'j1'`).run();
      // The cascade still works on the rebuilt tables.
      db.prepare(`DELETE FROM jobs WHERE id = 'j1'`).run();
      expect(db.prepare('SELECT COUNT(*) AS n FROM import_results').get()).toEqual({ n: 0 });
      expect(db.pragma('foreign_key_check')).toEqual([]);
      db.close();
    } finally {
      tmp.cleanup();
    }
  });
});

describe('ProgressTracker with a caching phase', () => {
  it('estimates the ETA from real steps only, not from the time spent at step 0', () => {
    let now = 0;
    const sent: JobProgress[] = [];
    const tracker = new ProgressTracker(
      () => now,
      (p) => sent.push(p),
    );
    const report = (at: number, step: number) => {
      now = at;
      tracker.report({ step, total: 10, metrics: { x: step } });
    };
    report(0, 0); // caching starts
    report(10_000, 0); // caching ends ten seconds later
    report(11_000, 1);
    report(12_000, 2);
    // One second per step since the last step-0 report: 8 steps left.
    expect(sent.at(-1)!.etaMs).toBe(8_000);
  });
});
