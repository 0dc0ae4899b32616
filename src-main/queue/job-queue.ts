/**
 * The persistent job queue.
 *
 * States: queued → running → succeeded | failed | canceled, plus interrupted (its runner
 * died; re-queued on the next start with the attempt counted). Priorities first, FIFO
 * within a priority. One GPU lane shared by every process on the data home, a CPU lane
 * per process. Cancellation is cooperative: the handler's signal aborts and its next
 * `throwIfCanceled()` ends the job. A failing handler records its error and the queue
 * carries on.
 */
import type { JobState, JobView, Lane } from '../../src-shared/api';
import { describeIssues } from '../../src-shared/api';
import { CanceledError, PinholeError, serializeError } from '../../src-shared/errors';
import { Emitter } from '../platform/emitter';
import { newId } from '../platform/ids';
import type { Database } from '../storage/database';
import type { AnyJobHandler, JobContext } from './job-handler';
import { ProgressTracker } from './progress-tracker';
import { JobStore, THIS_RUNNER } from './job-store';
import { isRunnerAlive } from '../platform/runner-liveness';

export type JobQueueOptions = {
  /** Concurrent jobs in this process's CPU lane. */
  cpuConcurrency?: number;
  /** A job interrupted this many times fails instead of running again. */
  maxAttempts?: number;
  /** How often to look for cancel requests from other processes and for dead runners (ms). */
  pollMs?: number;
  now?: () => number;
};

export type StartOptions = {
  /** Run only these jobs (a CLI command runs its own job); default: every job. */
  only?: Iterable<string>;
};

type Running = { controller: AbortController; done: Promise<void> };

export class JobQueue {
  private readonly store: JobStore;
  private readonly handlers = new Map<string, AnyJobHandler>();
  private readonly running = new Map<string, Running>();
  private readonly waiters = new Map<string, ((job: JobView) => void)[]>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly cpuConcurrency: number;
  private readonly maxAttempts: number;
  private readonly pollMs: number;
  private readonly now: () => number;
  private only: Set<string> | null = null;
  private started = false;
  private stopping = false;
  private pollTimer: NodeJS.Timeout | null = null;

  /** Fires on enqueue, every state change and (throttled) progress. */
  readonly onDidChange = new Emitter<JobView>();

  constructor(db: Database, options: JobQueueOptions = {}) {
    this.store = new JobStore(db);
    this.cpuConcurrency = options.cpuConcurrency ?? 1;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.pollMs = options.pollMs ?? 250;
    this.now = options.now ?? Date.now;
  }

  register(handler: AnyJobHandler): void {
    if (this.handlers.has(handler.kind))
      throw new PinholeError('INTERNAL', `Job kind registered twice: ${handler.kind}`);
    this.handlers.set(handler.kind, handler);
  }

  /** Validates params with the kind's schema, then stores the job. Throws INVALID_PARAMS before anything is stored. */
  enqueue(kind: string, rawParams: unknown, options: { priority?: number } = {}): JobView {
    const handler = this.handlers.get(kind);
    if (!handler) throw new PinholeError('INVALID_PARAMS', `Unknown job kind: ${kind}`);
    const parsed = handler.params.safeParse(rawParams);
    if (!parsed.success) {
      throw new PinholeError('INVALID_PARAMS', `Invalid ${kind} job: ${describeIssues(parsed.error)}`);
    }
    const job = this.store.insert(
      {
        id: newId('job'),
        kind,
        lane: handler.lane,
        priority: options.priority ?? 0,
        title: handler.title(parsed.data),
        params: parsed.data,
      },
      this.now(),
    );
    this.onDidChange.fire(job);
    if (this.only && this.started) this.only.add(job.id);
    this.pump();
    return job;
  }

  get(id: string): JobView {
    const job = this.store.get(id);
    if (!job) throw new PinholeError('NOT_FOUND', `No job with id ${id}`);
    return job;
  }

  list(states?: readonly JobState[], limit = 200): JobView[] {
    return this.store.list(states, limit);
  }

  /** Cancels a queued job at once, or asks its runner (this process or another) to stop it. */
  cancel(id: string): JobView {
    const outcome = this.store.requestCancel(id, this.now());
    if (outcome === 'missing') throw new PinholeError('NOT_FOUND', `No job with id ${id}`);
    if (outcome === 'requested') this.running.get(id)?.controller.abort(new CanceledError());
    const job = this.get(id);
    if (outcome === 'canceled') this.settle(job);
    return job;
  }

  /**
   * Pauses a job: a queued one at once; a running one is aborted with a `PauseRequest` (its handler
   * saves what it needs to continue, e.g. a training checkpoint) and kept as `paused` with its
   * checkpoint, until `resume`. A cancel of a paused job cancels it.
   */
  pause(id: string): JobView {
    const outcome = this.store.requestPause(id);
    if (outcome === 'missing') throw new PinholeError('NOT_FOUND', `No job with id ${id}`);
    if (outcome === 'finished') throw new PinholeError('CONFLICT', `Job ${id} has already ended; it cannot be paused.`);
    if (outcome === 'requested') this.running.get(id)?.controller.abort(new PauseRequest());
    const job = this.get(id);
    if (outcome === 'paused') this.settle(job);
    return job;
  }

  /** Puts a paused job back into the queue; it continues from its checkpoint. */
  resume(id: string): JobView {
    const job = this.get(id);
    if (job.state !== 'paused' || !this.store.resumePaused(id)) {
      throw new PinholeError('CONFLICT', `Job ${id} is ${job.state}, not paused; only a paused job can be resumed.`);
    }
    // Whoever resumes it may run it (a CLI command runs only the jobs it was handed).
    if (this.only && this.started) this.only.add(id);
    const resumed = this.get(id);
    this.settle(resumed);
    this.pump();
    return resumed;
  }

  /**
   * Recovers jobs whose runner died (interrupted → queued, or failed after too many attempts)
   * and starts running jobs.
   */
  start(options: StartOptions = {}): void {
    if (this.started) return;
    this.started = true;
    this.only = options.only ? new Set(options.only) : null;
    this.recoverOrphans();
    this.pollTimer = setInterval(() => this.poll(), this.pollMs);
    this.pollTimer.unref();
    this.pump();
  }

  /** Resolves with the job once it reaches a final state. */
  waitFor(id: string): Promise<JobView> {
    const job = this.get(id);
    if (isFinal(job.state)) return Promise.resolve(job);
    return new Promise((resolve) => {
      const list = this.waiters.get(id) ?? [];
      list.push(resolve);
      this.waiters.set(id, list);
    });
  }

  /** Resolves when this process runs nothing and nothing it may run is queued. */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops taking jobs, aborts the running ones and waits for them to end. They are left
   * interrupted and re-queued, so the next start resumes them.
   */
  async dispose(): Promise<void> {
    this.stopping = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    for (const run of this.running.values()) run.controller.abort(new PinholeError('INTERRUPTED', 'Shutting down'));
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
    this.onDidChange.clear();
  }

  private isIdle(): boolean {
    if (this.running.size > 0) return false;
    const queued = this.store.list(['queued'], 1000);
    return !queued.some((j) => this.mayRun(j.id));
  }

  private mayRun(id: string): boolean {
    return this.only === null || this.only.has(id);
  }

  private recoverOrphans(): void {
    for (const job of this.store.orphans((runner) => isRunnerAlive(runner))) {
      const error = serializeError(
        new PinholeError('INTERRUPTED', `The process running this job stopped (attempt ${job.attempts}).`),
      );
      if (!this.store.setState(job.id, 'running', 'interrupted', error, null)) continue;
      this.onDidChange.fire(this.get(job.id));
      if (job.attempts >= this.maxAttempts) {
        const failed = serializeError(
          new PinholeError('INTERRUPTED', `Interrupted ${job.attempts} times; giving up. Start it again to retry.`),
        );
        this.store.setState(job.id, 'interrupted', 'failed', failed, this.now());
      } else {
        this.store.requeue(job.id);
      }
      this.settle(this.get(job.id));
    }
  }

  private poll(): void {
    if (this.stopping) return;
    for (const { id, pause } of this.store.cancelRequestsFor(THIS_RUNNER)) {
      this.running.get(id)?.controller.abort(pause ? new PauseRequest() : new CanceledError());
    }
    this.recoverOrphans();
    this.pump();
  }

  private pump(): void {
    if (!this.started || this.stopping) return;
    this.fill('gpu', 1);
    this.fill('cpu', this.cpuConcurrency);
    if (this.isIdle()) this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }

  private fill(lane: Lane, capacity: number): void {
    while (this.countRunning(lane) < capacity) {
      const claimed = this.store.claimNext(lane, this.now(), this.only);
      if (!claimed) return;
      this.launch(claimed.view, claimed.checkpoint);
    }
  }

  private countRunning(lane: Lane): number {
    let count = 0;
    for (const id of this.running.keys()) if (this.store.get(id)?.lane === lane) count++;
    return count;
  }

  private launch(job: JobView, checkpoint: unknown): void {
    const controller = new AbortController();
    const done = this.execute(job, checkpoint, controller).finally(() => {
      this.running.delete(job.id);
      this.pump();
    });
    this.running.set(job.id, { controller, done });
    this.onDidChange.fire(job);
  }

  private async execute(job: JobView, checkpoint: unknown, controller: AbortController): Promise<void> {
    const handler = this.handlers.get(job.kind);
    const tracker = new ProgressTracker(this.now, (progress, persist) => {
      if (persist) this.store.saveProgress(job.id, progress);
      this.onDidChange.fire({ ...this.get(job.id), progress });
    });
    try {
      if (!handler) throw new PinholeError('INVALID_PARAMS', `This version cannot run jobs of kind "${job.kind}".`);
      // Stored params are re-validated: they may come from an older version of the app.
      const parsed = handler.params.safeParse(job.params);
      if (!parsed.success) {
        throw new PinholeError('INVALID_PARAMS', `Stored ${job.kind} job is invalid: ${describeIssues(parsed.error)}`);
      }
      const ctx: JobContext = {
        jobId: job.id,
        attempt: job.attempts,
        signal: controller.signal,
        checkpoint: checkpoint ?? null,
        throwIfCanceled: () => {
          if (controller.signal.aborted) throw toAbortError(controller.signal.reason);
        },
        progress: (update) => tracker.report(update),
        saveCheckpoint: (value) => this.store.saveCheckpoint(job.id, value),
      };
      const result: unknown = await handler.run(ctx, parsed.data);
      // A cancel that arrived after the last step still wins only if the handler noticed it.
      tracker.flush();
      this.store.finish(job.id, 'succeeded', this.now(), result ?? null, null);
    } catch (error) {
      tracker.flush();
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : error;
      if (reason instanceof PauseRequest) {
        // Paused: not final; the checkpoint stays for the resumed run.
        this.store.pauseRunning(job.id);
      } else if (reason instanceof PinholeError && reason.code === 'INTERRUPTED' && this.stopping) {
        // Shutdown: leave it to be resumed on the next start (the attempt stays counted).
        this.store.setState(job.id, 'running', 'interrupted', serializeError(reason), null);
        this.store.requeue(job.id);
      } else if (error instanceof CanceledError || (controller.signal.aborted && reason instanceof CanceledError)) {
        this.store.finish(job.id, 'canceled', this.now(), null, null);
      } else {
        this.store.finish(job.id, 'failed', this.now(), null, serializeError(error));
      }
    }
    this.settle(this.get(job.id));
  }

  /** Announces a job's new state and wakes whoever waits for it. */
  private settle(job: JobView): void {
    if (!this.stopping) this.onDidChange.fire(job);
    if (!isFinal(job.state)) return;
    const waiting = this.waiters.get(job.id);
    this.waiters.delete(job.id);
    waiting?.forEach((resolve) => resolve(job));
  }
}

/** The abort reason of a paused job: a cancellation that the queue keeps as `paused`. */
export class PauseRequest extends CanceledError {
  constructor() {
    super('Paused');
  }
}

function isFinal(state: JobState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'canceled';
}

function toAbortError(reason: unknown): Error {
  return reason instanceof Error ? reason : new CanceledError();
}
