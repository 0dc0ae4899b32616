/**
 * Browser uploads (headless mode only): the browser cannot hand the core a path, so files
 * travel as multipart to `POST /api/upload?dataset=<name>`, which answers a CallResponse
 * with the import job's id.
 */
import { z } from 'zod';
import { CallResponse } from '../../../src-shared/api/contract';
import { deserializeError, PinholeError, type SerializedError } from '../../../src-shared/errors';
import { postSameOrigin, readCallResponse } from './http-client';

const UploadResult = z.object({ jobId: z.string().min(1) });

/** Uploads files (field name `files`, one part each) into a dataset; resolves to the import job id. */
export async function uploadFiles(dataset: string, files: readonly File[]): Promise<{ jobId: string }> {
  const form = new FormData();
  // The relative path keeps folder structure visible in per-file results (webkitdirectory, drops).
  for (const file of files) form.append('files', file, file.webkitRelativePath || file.name);
  const response = await postSameOrigin(`/api/upload?dataset=${encodeURIComponent(dataset)}`, { body: form });
  const envelope = CallResponse.safeParse(await readCallResponse(response, 'The upload'));
  if (!envelope.success) throw new PinholeError('INTERNAL', 'The upload answer is not a call response.');
  if (!envelope.data.ok) throw deserializeError(envelope.data.error as SerializedError);
  const result = UploadResult.safeParse(envelope.data.result);
  if (!result.success) throw new PinholeError('INTERNAL', 'The upload answer has no job id.');
  return result.data;
}
