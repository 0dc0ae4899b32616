/**
 * Collapses bursts of triggers into few runs of an async task: a big import sends an event
 * per file, and re-fetching per event would flood the core with identical requests.
 */

/** A coalesced task handle. */
export type Coalesced = {
  /** Asks for a run: after `delayMs` of quiet, or at once with `immediate`. */
  trigger(immediate?: boolean): void;
  /** Drops any pending run (a run in flight finishes on its own). */
  cancel(): void;
};

/** Wraps `task` so runs never overlap and a trigger during a run causes exactly one more run. */
export function coalesce(task: () => Promise<void>, delayMs: number): Coalesced {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let running = false;
  let again = false;

  const run = async (): Promise<void> => {
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await task();
    } catch (error) {
      console.error('Pinhole: a background refresh failed', error);
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule(delayMs);
      }
    }
  };

  const schedule = (ms: number): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void run(), ms);
  };

  return {
    trigger: (immediate = false) => schedule(immediate ? 0 : delayMs),
    cancel: () => {
      if (timer) clearTimeout(timer);
      timer = null;
      again = false;
    },
  };
}
