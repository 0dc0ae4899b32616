/**
 * The jobs table: rows ↔ JobView, and the atomic claim that lets several processes
 * (the app or server, a CLI command) share one queue without running a job twice.
 */
import { hostname } from 'node:os';
import type { JobProgress, JobState, JobView, Lane } from '../../src-shared/api';
import type { SerializedError } from '../../src-shared/errors';
import type { Database } from '../storage/database';

type JobRow = {
  id: string;
  seq: number;
  kind: string;
  lane: Lane;
  priority: number;
  state: JobState;
  title: string;
  params: string;
  checkpoint: string | null;
  progress: string | null;
  result: string | null;
  error: string | null;
  attempts: number;
  runner: string | null;
  cancel_requested: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
};

export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'canceled'];

/** This process's runner id, written on the jobs it claims. */
export const THIS_RUNNER = `${process.pid}@${hostname()}`;

function parseJson(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

function toView(row: JobRow): JobView {
  return {
    id: row.id,
    kind: row.kind,
    lane: row.lane,
    state: row.state,
    priority: row.priority,
    title: row.title,
    params: parseJson(row.params),
    progress: parseJson(row.progress) as JobProgress | null,
    result: parseJson(row.result),
    error: parseJson(row.error) as SerializedError | null,
    attempts: row.attempts,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export type ClaimedJob = { view: JobView; checkpoint: unknown };

export class JobStore {
  constructor(private readonly db: Database) {}

  insert(
    job: { id: string; kind: string; lane: Lane; priority: number; title: string; params: unknown },
    now: number,
  ): JobView {
    this.db
      .prepare(
        `INSERT INTO jobs (id, seq, kind, lane, priority, state, title, params, created_at)
         VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), ?, ?, ?, 'queued', ?, ?, ?)`,
      )
      .run(job.id, job.kind, job.lane, job.priority, job.title, JSON.stringify(job.params), now);
    return this.get(job.id)!;
  }

  get(id: string): JobView | null {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row ? toView(row) : null;
  }

  list(states: readonly JobState[] | undefined, limit: number): JobView[] {
    const rows = (
      states && states.length
        ? this.db
            .prepare(`SELECT * FROM jobs WHERE state IN (${states.map(() => '?').join(',')}) ORDER BY seq DESC LIMIT ?`)
            .all(...states, limit)
        : this.db.prepare('SELECT * FROM jobs ORDER BY seq DESC LIMIT ?').all(limit)
    ) as JobRow[];
    return rows.map(toView);
  }

  /**
   * Claims the next queued job of a lane: highest priority first, FIFO within a priority.
   * The GPU lane is global: no claim while any process runs a GPU job.
   * `only` restricts the claim to given ids (a CLI command runs just its own job).
   */
  claimNext(lane: Lane, now: number, only: ReadonlySet<string> | null): ClaimedJob | null {
    return this.db
      .transaction((): ClaimedJob | null => {
        if (lane === 'gpu') {
          const busy = this.db.prepare(`SELECT 1 FROM jobs WHERE state = 'running' AND lane = 'gpu' LIMIT 1`).get();
          if (busy) return null;
        }
        const candidates = this.db
          .prepare(
            `SELECT id FROM jobs WHERE state = 'queued' AND lane = ? ORDER BY priority DESC, seq ASC LIMIT ${only ? 1000 : 1}`,
          )
          .all(lane) as { id: string }[];
        const pick = only ? candidates.find((c) => only.has(c.id)) : candidates[0];
        if (!pick) return null;
        this.db
          .prepare(
            `UPDATE jobs SET state = 'running', attempts = attempts + 1, runner = ?, started_at = ?,
               progress = NULL, error = NULL WHERE id = ?`,
          )
          .run(THIS_RUNNER, now, pick.id);
        const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(pick.id) as JobRow;
        return { view: toView(row), checkpoint: parseJson(row.checkpoint) };
      })
      .immediate();
  }

  saveProgress(id: string, progress: JobProgress): void {
    this.db
      .prepare(`UPDATE jobs SET progress = ? WHERE id = ? AND state = 'running'`)
      .run(JSON.stringify(progress), id);
  }

  saveCheckpoint(id: string, checkpoint: unknown): void {
    this.db.prepare('UPDATE jobs SET checkpoint = ? WHERE id = ?').run(JSON.stringify(checkpoint), id);
  }

  finish(
    id: string,
    state: 'succeeded' | 'failed' | 'canceled',
    now: number,
    result: unknown,
    error: SerializedError | null,
  ): void {
    this.db
      .prepare(
        `UPDATE jobs SET state = ?, finished_at = ?, result = ?, error = ?, runner = NULL, checkpoint = NULL
         WHERE id = ?`,
      )
      .run(state, now, result === undefined ? null : JSON.stringify(result), error ? JSON.stringify(error) : null, id);
  }

  /** Cancels a queued job at once; marks a running one for its runner. Returns the new state. */
  requestCancel(id: string, now: number): 'canceled' | 'requested' | 'finished' | 'missing' {
    return this.db
      .transaction(() => {
        const row = this.db.prepare('SELECT state FROM jobs WHERE id = ?').get(id) as { state: JobState } | undefined;
        if (!row) return 'missing' as const;
        if (row.state === 'queued' || row.state === 'interrupted' || row.state === 'paused') {
          this.db
            .prepare(
              `UPDATE jobs SET state = 'canceled', finished_at = ?, runner = NULL, checkpoint = NULL WHERE id = ?`,
            )
            .run(now, id);
          return 'canceled' as const;
        }
        if (row.state === 'running') {
          this.db.prepare('UPDATE jobs SET cancel_requested = 1 WHERE id = ?').run(id);
          return 'requested' as const;
        }
        return 'finished' as const;
      })
      .immediate();
  }

  /**
   * Pauses a queued job at once (it keeps its place when resumed); marks a running one for its
   * runner (`cancel_requested = 2`: stop with a checkpoint). Returns what happened.
   */
  requestPause(id: string): 'paused' | 'requested' | 'finished' | 'missing' {
    return this.db
      .transaction(() => {
        const row = this.db.prepare('SELECT state FROM jobs WHERE id = ?').get(id) as { state: JobState } | undefined;
        if (!row) return 'missing' as const;
        if (row.state === 'queued' || row.state === 'paused') {
          this.db.prepare(`UPDATE jobs SET state = 'paused', runner = NULL WHERE id = ?`).run(id);
          return 'paused' as const;
        }
        if (row.state === 'running') {
          this.db.prepare('UPDATE jobs SET cancel_requested = 2 WHERE id = ? AND cancel_requested = 0').run(id);
          return 'requested' as const;
        }
        return 'finished' as const;
      })
      .immediate();
  }

  /** A paused job back into the queue (its checkpoint kept). False when it is not paused. */
  resumePaused(id: string): boolean {
    const info = this.db
      .prepare(
        `UPDATE jobs SET state = 'queued', runner = NULL, cancel_requested = 0 WHERE id = ? AND state = 'paused'`,
      )
      .run(id);
    return info.changes === 1;
  }

  /** This runner's jobs that another process asked to cancel (or, with `pause`, to pause). */
  cancelRequestsFor(runner: string): { id: string; pause: boolean }[] {
    return (
      this.db
        .prepare(
          `SELECT id, cancel_requested FROM jobs WHERE state = 'running' AND runner = ? AND cancel_requested > 0`,
        )
        .all(runner) as { id: string; cancel_requested: number }[]
    ).map((r) => ({ id: r.id, pause: r.cancel_requested === 2 }));
  }

  /** Running jobs whose runner is not alive (per `isAlive`). */
  orphans(isAlive: (runner: string | null) => boolean): JobView[] {
    const rows = this.db.prepare(`SELECT * FROM jobs WHERE state = 'running'`).all() as JobRow[];
    return rows.filter((r) => !isAlive(r.runner)).map(toView);
  }

  setState(id: string, from: JobState, to: JobState, error: SerializedError | null, now: number | null): boolean {
    const info = this.db
      .prepare(
        `UPDATE jobs SET state = ?, error = COALESCE(?, error), runner = NULL, finished_at = COALESCE(?, finished_at)
         WHERE id = ? AND state = ?`,
      )
      .run(to, error ? JSON.stringify(error) : null, now, id, from);
    return info.changes === 1;
  }

  /**
   * A running job that stopped on a pause request. Its run ended cleanly, so it does not count as an
   * attempt: only crashes should bring a job nearer to giving up (`maxAttempts`).
   */
  pauseRunning(id: string): boolean {
    const info = this.db
      .prepare(
        `UPDATE jobs SET state = 'paused', runner = NULL, attempts = MAX(attempts - 1, 0) WHERE id = ? AND state = 'running'`,
      )
      .run(id);
    return info.changes === 1;
  }

  /** Used by the re-queue of an interrupted job: back into the queue, attempts kept. */
  requeue(id: string): void {
    this.db
      .prepare(
        `UPDATE jobs SET state = 'queued', runner = NULL, started_at = NULL, cancel_requested = 0 WHERE id = ? AND state = 'interrupted'`,
      )
      .run(id);
  }
}
