/**
 * `--model FILE|FOLDER` resolved in the CLI's own process: a single-file checkpoint or a diffusers
 * folder is converted into the data home's cache (once; later runs reuse it) before the job is queued.
 * A real checkpoint takes minutes, so the user sees it (CONTRACTS.md's output rules): a bar on a
 * terminal; otherwise one stderr line per stage; with --json, `{"event":"converting","stage","fraction"}`
 * lines on stdout, ahead of the command's own lines. Ctrl-C cancels it (exit 130) and, because the
 * conversion writes under a temporary name, leaves nothing half-written.
 */
import { resolveModelSource } from '../studio';
import { PinholeError } from '../../src-shared/errors';
import type { Output } from './output';

/** What a conversion reports: a stage ("unet graph", …) and the fraction of the whole done (0 … 1). */
type Report = { stage: string; fraction: number };

/** Turns conversion reports into the output the mode asks for; reports that would repeat a line are dropped. */
export function conversionPrinter(out: Output, source: string): (report: Report) => void {
  let last = '';
  let lastStage = '';
  return ({ stage, fraction }) => {
    const percent = Math.round(fraction * 100);
    const key = `${stage} ${percent}`;
    if (key === last) return;
    // A cached conversion reports nothing, so this line only appears when there is work to wait for.
    if (last === '') out.info(`Converting ${source} (once: the result is cached in the data home)`);
    last = key;
    const newStage = stage !== lastStage;
    lastStage = stage;
    if (out.json) out.line({ event: 'converting', stage, fraction });
    else if (out.bars) out.progress('Converting', { step: percent, total: 100, etaMs: null, message: stage });
    // Plain lines (a log, a pipe): one as each stage starts, and one at the end.
    else if (newStage || percent === 100) out.info(`Converting the model: ${stage} ${percent}%`);
  };
}

/**
 * The model folder for a `--model` path, converted here with progress when it needs to be.
 * @throws PinholeError `NOT_FOUND`, `IMPORT_REJECTED` naming the file and the reason, `CANCELED` on Ctrl-C.
 */
export async function resolveModelWithProgress(
  out: Output,
  source: string,
  dataDir: string,
  options: Omit<NonNullable<Parameters<typeof resolveModelSource>[2]>, 'signal' | 'onProgress'> = {},
): Promise<string> {
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    return await resolveModelSource(source, dataDir, {
      ...options,
      signal: abort.signal,
      onProgress: conversionPrinter(out, source),
    });
  } catch (error) {
    if (error instanceof PinholeError) throw error;
    // A file system error from deep inside the writer: say which model it was about.
    const reason = error instanceof Error ? error.message : String(error);
    throw new PinholeError('IMPORT_REJECTED', `Could not convert ${source}: ${reason}`, { cause: error });
  } finally {
    process.off('SIGINT', onSigint);
    out.endProgress();
  }
}
