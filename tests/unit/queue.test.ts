import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PinholeError } from '../../src-shared/errors';
import { JobQueue, type JobHandler } from '../../src-main/queue';
import { openDatabase, type Database } from '../../src-main/storage/database';
import { makeTempDir } from '../helpers/temp-dir';

type StepParams = { name: string; steps: number; failAt?: number | undefined };

/** A job kind that records its order of execution and can be held open. */
function stepHandler(kind: string, lane: 'cpu' | 'gpu', log: string[], gate?: Promise<void>): JobHandler<StepParams> {
  return {
    kind,
    lane,
    params: z.object({ name: z.string(), steps: z.number().int().positive(), failAt: z.number().optional() }),
    title: (p) => `${kind} ${p.name}`,
    run: async (ctx, p) => {
      log.push(`start ${p.name}`);
      for (let i = 0; i < p.steps; i++) {
        ctx.throwIfCanceled();
        if (gate) await gate;
        if (p.failAt === i) throw new PinholeError('IMPORT_REJECTED', `step ${i} broke`);
        await new Promise((r) => setTimeout(r, 2));
        ctx.progress({ step: i + 1, total: p.steps, message: `step ${i + 1}` });
      }
      log.push(`end ${p.name}`);
      return { name: p.name };
    },
  };
}

describe('JobQueue', () => {
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

  it('rejects invalid params before storing anything', () => {
    queue = new JobQueue(db);
    queue.register(stepHandler('work', 'cpu', []));
    expect(() => queue.enqueue('work', { name: 'a', steps: -1 })).toThrow(/Invalid work job: steps/);
    expect(() => queue.enqueue('nope', {})).toThrow(/Unknown job kind/);
    expect(queue.list()).toHaveLength(0);
  });

  it('runs higher priority first and FIFO within a priority', async () => {
    const log: string[] = [];
    queue = new JobQueue(db);
    queue.register(stepHandler('work', 'cpu', log));
    queue.enqueue('work', { name: 'low1', steps: 1 }, { priority: 0 });
    queue.enqueue('work', { name: 'high', steps: 1 }, { priority: 5 });
    queue.enqueue('work', { name: 'low2', steps: 1 }, { priority: 0 });
    queue.enqueue('work', { name: 'mid', steps: 1 }, { priority: 1 });
    queue.start();
    await queue.whenIdle();
    expect(log.filter((l) => l.startsWith('start'))).toEqual(['start high', 'start mid', 'start low1', 'start low2']);
    expect(queue.list().every((j) => j.state === 'succeeded')).toBe(true);
  });

  it('runs one GPU job at a time while the CPU lane runs beside it', async () => {
    const log: string[] = [];
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    queue = new JobQueue(db);
    queue.register(stepHandler('gpu', 'gpu', log, gate));
    queue.register(stepHandler('cpu', 'cpu', log));
    const g1 = queue.enqueue('gpu', { name: 'g1', steps: 1 });
    const g2 = queue.enqueue('gpu', { name: 'g2', steps: 1 });
    const c1 = queue.enqueue('cpu', { name: 'c1', steps: 1 });
    queue.start();
    await queue.waitFor(c1.id);
    expect(queue.get(g1.id).state).toBe('running');
    expect(queue.get(g2.id).state).toBe('queued');
    open();
    await queue.whenIdle();
    expect(log.indexOf('end g1')).toBeLessThan(log.indexOf('start g2'));
  });

  it('cancels a running job within one step, and a queued one at once', async () => {
    queue = new JobQueue(db);
    const log: string[] = [];
    queue.register(stepHandler('work', 'cpu', log));
    const long = queue.enqueue('work', { name: 'long', steps: 10_000 });
    const waiting = queue.enqueue('work', { name: 'waiting', steps: 1 });
    const seen: number[] = [];
    queue.onDidChange.on((j) => j.id === long.id && j.progress && seen.push(j.progress.step));
    queue.start();
    await new Promise((r) => setTimeout(r, 50));
    expect(queue.cancel(waiting.id).state).toBe('canceled');
    queue.cancel(long.id);
    const final = await queue.waitFor(long.id);
    expect(final.state).toBe('canceled');
    expect(final.error).toBeNull();
    expect(log).not.toContain('end long');
    expect(log).not.toContain('start waiting');
    expect(seen.length).toBeGreaterThan(0);
  });

  it('records a failing job with a readable error and keeps going', async () => {
    queue = new JobQueue(db);
    queue.register(stepHandler('work', 'cpu', []));
    const bad = queue.enqueue('work', { name: 'bad', steps: 3, failAt: 1 });
    const good = queue.enqueue('work', { name: 'good', steps: 2 });
    queue.start();
    await queue.whenIdle();
    expect(queue.get(bad.id)).toMatchObject({
      state: 'failed',
      error: { code: 'IMPORT_REJECTED', message: 'step 1 broke' },
    });
    expect(queue.get(good.id)).toMatchObject({ state: 'succeeded', result: { name: 'good' } });
  });

  it('reports progress with an ETA once the rate is known', async () => {
    let t = 0;
    queue = new JobQueue(db, { now: () => t });
    queue.register({
      kind: 'timed',
      lane: 'cpu',
      params: z.object({}),
      title: () => 'timed',
      run: async (ctx) => {
        for (let i = 1; i <= 4; i++) {
          t += 1000;
          ctx.progress({ step: i, total: 4 });
          await Promise.resolve();
        }
      },
    });
    const etas: (number | null)[] = [];
    queue.onDidChange.on((j) => j.state === 'running' && j.progress && etas.push(j.progress.etaMs));
    const job = queue.enqueue('timed', {});
    queue.start();
    await queue.waitFor(job.id);
    expect(etas).toEqual([null, 2000, 1000, 0]);
  });

  it('re-queues a job whose runner died, counts the attempt, and resumes from its checkpoint', async () => {
    queue = new JobQueue(db);
    const handler: JobHandler<{ n: number }, number[], number> = {
      kind: 'resumable',
      lane: 'cpu',
      params: z.object({ n: z.number() }),
      title: () => 'resumable',
      run: async (ctx, p) => {
        const done: number[] = [];
        for (let i = ctx.checkpoint ?? 0; i < p.n; i++) {
          done.push(i);
          ctx.saveCheckpoint(i + 1);
        }
        return done;
      },
    };
    queue.register(handler);
    const job = queue.enqueue('resumable', { n: 5 });
    // Simulate a process that claimed the job, got to item 3 and was killed.
    db.prepare(
      `UPDATE jobs SET state='running', attempts=1, runner='999999999@${(await import('node:os')).hostname()}', checkpoint='3' WHERE id=?`,
    ).run(job.id);
    queue.start();
    const final = await queue.waitFor(job.id);
    expect(final).toMatchObject({ state: 'succeeded', attempts: 2, result: [3, 4] });
  });

  it('fails a job interrupted too many times', async () => {
    queue = new JobQueue(db, { maxAttempts: 2 });
    queue.register(stepHandler('work', 'cpu', []));
    const job = queue.enqueue('work', { name: 'x', steps: 1 });
    db.prepare(
      `UPDATE jobs SET state='running', attempts=2, runner='999999999@${(await import('node:os')).hostname()}' WHERE id=?`,
    ).run(job.id);
    queue.start();
    expect(queue.get(job.id)).toMatchObject({ state: 'failed', error: { code: 'INTERRUPTED' } });
  });

  it('re-validates stored params and fails jobs it cannot run, without stopping', async () => {
    queue = new JobQueue(db);
    queue.register(stepHandler('work', 'cpu', []));
    const job = queue.enqueue('work', { name: 'x', steps: 1 });
    db.prepare(`UPDATE jobs SET params='{"name":5}' WHERE id=?`).run(job.id);
    db.prepare(
      `INSERT INTO jobs (id, seq, kind, lane, priority, state, title, params, created_at) VALUES ('job_future', 99, 'future-kind', 'cpu', 0, 'queued', 't', '{}', 0)`,
    ).run();
    const ok = queue.enqueue('work', { name: 'ok', steps: 1 });
    queue.start();
    await queue.whenIdle();
    expect(queue.get(job.id)).toMatchObject({ state: 'failed', error: { code: 'INVALID_PARAMS' } });
    expect(queue.get('job_future')).toMatchObject({ state: 'failed', error: { code: 'INVALID_PARAMS' } });
    expect(queue.get(ok.id).state).toBe('succeeded');
  });

  it('honours a cancel requested by another process through the database', async () => {
    queue = new JobQueue(db, { pollMs: 20 });
    queue.register(stepHandler('work', 'cpu', []));
    const job = queue.enqueue('work', { name: 'long', steps: 100_000 });
    queue.start();
    await new Promise((r) => setTimeout(r, 30));
    db.prepare('UPDATE jobs SET cancel_requested = 1 WHERE id = ?').run(job.id);
    expect((await queue.waitFor(job.id)).state).toBe('canceled');
  });

  it('runs only the jobs it was started for', async () => {
    queue = new JobQueue(db);
    queue.register(stepHandler('work', 'cpu', []));
    const mine = queue.enqueue('work', { name: 'mine', steps: 1 });
    const other = queue.enqueue('work', { name: 'other', steps: 1 });
    queue.start({ only: [mine.id] });
    await queue.waitFor(mine.id);
    await queue.whenIdle();
    expect(queue.get(other.id).state).toBe('queued');
  });
});

describe('JobQueue progress on cancel', () => {
  it('stores the latest progress when a job is cancelled between persists', async () => {
    const { dir, cleanup } = makeTempDir();
    const db = openDatabase(path.join(dir, 'p.db'));
    const queue = new JobQueue(db);
    let release!: () => void;
    const atStep4 = new Promise<void>((r) => (release = r));
    queue.register({
      kind: 'steps',
      lane: 'cpu',
      params: z.object({}),
      title: () => 'steps',
      run: async (ctx) => {
        for (let i = 1; i <= 100; i++) {
          ctx.throwIfCanceled();
          ctx.progress({ step: i, total: 100 });
          if (i === 4) release();
          await new Promise((r) => setTimeout(r, 20));
        }
      },
    });
    const job = queue.enqueue('steps', {});
    queue.start();
    await atStep4;
    queue.cancel(job.id);
    const final = await queue.waitFor(job.id);
    expect(final.state).toBe('canceled');
    expect(final.progress?.step).toBeGreaterThanOrEqual(4);
    await queue.dispose();
    db.close();
    cleanup();
  });
});
