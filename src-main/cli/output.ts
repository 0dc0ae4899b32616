/**
 * CLI output rules (CONTRACTS.md): with --json, stdout carries JSON lines only; human
 * messages and progress go to stderr; no progress bar with --json or when stderr is not a TTY.
 */
import type { JobProgress } from '../../src-shared/api';

export type Output = {
  json: boolean;
  /** Whether progress bars are drawn (stderr is a terminal, no --json); otherwise progress is said in lines. */
  bars: boolean;
  /** One JSON object per line on stdout. */
  line(value: unknown): void;
  /** A human message on stderr (stdout when not in JSON mode and `toStdout`). */
  info(message: string, toStdout?: boolean): void;
  /** Redraws the progress bar (only on a TTY, never with --json). */
  progress(label: string, progress: JobProgress | null): void;
  /** Clears the progress bar line. */
  endProgress(): void;
};

export function createOutput(json: boolean, stdout = process.stdout, stderr = process.stderr): Output {
  const bars = !json && stderr.isTTY === true;
  let drawn = false;
  const clear = () => {
    if (drawn) stderr.write('\r\x1b[2K');
    drawn = false;
  };
  return {
    json,
    bars,
    line: (value) => stdout.write(JSON.stringify(value) + '\n'),
    info: (message, toStdout = false) => {
      clear();
      (toStdout && !json ? stdout : stderr).write(message + '\n');
    },
    progress: (label, progress) => {
      if (!bars) return;
      clear();
      stderr.write(formatProgressLine(label, progress, stderr.columns ?? 80));
      drawn = true;
    },
    endProgress: clear,
  };
}

/** `label [#####-----] 12/40 ETA 0:21 message`, fitted to the terminal width. */
export function formatProgressLine(label: string, progress: JobProgress | null, columns: number): string {
  const width = 24;
  const ratio = progress && progress.total > 0 ? Math.min(1, progress.step / progress.total) : 0;
  const filled = Math.round(ratio * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const counts = progress ? `${progress.step}/${progress.total}` : 'waiting';
  const eta = progress?.etaMs != null ? ` ETA ${formatDuration(progress.etaMs)}` : '';
  const message = progress?.message ? ` ${progress.message}` : '';
  return `${label} ${bar} ${counts}${eta}${message}`.slice(0, Math.max(20, columns - 1));
}

export function formatDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0
    ? `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`
    : `${m}:${String(s).padStart(2, '0')}`;
}
