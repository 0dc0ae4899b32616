/**
 * URLs of a training run's samples and checkpoints. The core resolves them from the job's recorded
 * artifacts by index or step only; no path ever travels in a URL.
 */
import type { Studio } from '../../lib/studio';

/** `sample-<i>` or `checkpoint-<step>` of a job, for this transport. */
export function trainingMediaUrl(mode: Studio['mode'], jobId: string, name: string): string {
  const tail = `training/${encodeURIComponent(jobId)}/${name}`;
  return mode === 'headless' ? `/media/${tail}` : `pinhole-media://${tail}`;
}
