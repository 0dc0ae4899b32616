/** Small formatters shared by every view, so sizes and times read the same everywhere. */

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'] as const;

/** 1536 → "1.5 KB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

/** Milliseconds left → "about 40 s left" / "about 3 min left"; null while unknown. */
export function formatEta(etaMs: number | null): string | null {
  if (etaMs === null) return null;
  const seconds = Math.round(etaMs / 1000);
  if (seconds < 1) return 'almost done';
  if (seconds < 90) return `about ${seconds} s left`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `about ${minutes} min left`;
  return `about ${(minutes / 60).toFixed(1)} h left`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** Epoch ms → a short local date and time. */
export function formatDateTime(ms: number): string {
  return dateTime.format(new Date(ms));
}

/** A duration between two epoch ms → "12 s" / "3 min". */
export function formatDuration(fromMs: number, toMs: number): string {
  const seconds = Math.max(0, Math.round((toMs - fromMs) / 1000));
  return seconds < 90 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
}

/** 1 → "1 image", 2 → "2 images". */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count.toLocaleString()} ${count === 1 ? singular : pluralForm}`;
}
