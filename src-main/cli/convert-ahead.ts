/**
 * `pinhole generate --model FILE|FOLDER [--vae NAME|FILE] [--prediction …]`: the conversion the generate job
 * needs, done here first so the user sees its progress (model-conversion.ts), with exactly the options the job's
 * conversion uses — the weight precision the core's engine calls for (float16 on a GPU provider), the separate
 * VAE's file, the prediction — so the job finds the result in the cache. The job is still given the original
 * path: it records the checkpoint's and the VAE's hashes and names in the image.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { PredictionType } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import type { CoreConnection } from './connection';
import type { ModelArgument } from './model-argument';
import { resolveModelWithProgress } from './model-conversion';
import type { Output } from './output';

/** The file a `--vae` argument names: a path as given, a library VAE's stored file by name. */
async function vaeFile(connection: CoreConnection, vae: ModelArgument): Promise<string> {
  if (vae.kind === 'path') return vae.path;
  const wanted = vae.name.toLowerCase();
  const found = (await connection.call('models.list', { kind: 'vae' })).find((m) => m.name.toLowerCase() === wanted);
  if (!found) throw new PinholeError('NOT_FOUND', `No VAE "${vae.name}": it is neither a library VAE nor a file.`);
  return found.path;
}

/**
 * Converts `model` (an absolute path) as the generate job will, unless it is an ONNX folder used as it is.
 * @throws PinholeError `NOT_FOUND` for an unknown VAE; what the conversion throws (`IMPORT_REJECTED`, `CANCELED`).
 */
export async function convertAheadOfJob(
  connection: CoreConnection,
  out: Output,
  dataDir: string,
  choice: { model: string; vae?: ModelArgument | undefined; prediction?: PredictionType | undefined },
): Promise<void> {
  if (existsSync(path.join(choice.model, 'unet', 'model.onnx')) && !choice.vae) return;
  const { weightPrecision } = await connection.call('engine.info', {});
  await resolveModelWithProgress(out, choice.model, dataDir, {
    precision: weightPrecision,
    ...(choice.vae ? { vae: await vaeFile(connection, choice.vae) } : {}),
    ...(choice.prediction ? { prediction: choice.prediction } : {}),
  });
}
