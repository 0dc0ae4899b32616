/**
 * Inline images (browser uploads of an init image or a painted mask) are stored as files in
 * the data home before the job is queued: the job's row keeps a path, not megabytes of base64,
 * and the input stays available for a re-run.
 */
import { mkdirSync } from 'node:fs';
import { type GenerateParams, type ImageRef } from '../../src-shared/api';
import { ContentStore } from '../storage/content-store';

export async function storeInlineImages(
  request: GenerateParams,
  inputsDir: string,
  tmpDir: string,
): Promise<GenerateParams> {
  mkdirSync(inputsDir, { recursive: true });
  const store = new ContentStore(inputsDir, tmpDir);
  const toPath = async (ref: ImageRef | undefined): Promise<ImageRef | undefined> => {
    if (ref === undefined || 'path' in ref) return ref;
    const bytes = Buffer.from(ref.dataUrl.slice(ref.dataUrl.indexOf(',') + 1), 'base64');
    return { path: store.pathOf(await store.put(bytes)) };
  };
  return { ...request, initImage: await toPath(request.initImage), maskImage: await toPath(request.maskImage) };
}
