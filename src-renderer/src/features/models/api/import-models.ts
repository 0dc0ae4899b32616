/**
 * Model files into the library. The desktop hands the core each dropped file's path (a
 * multi-gigabyte checkpoint is read in place, not copied through IPC); the browser uploads
 * them to `POST /api/upload?target=models`, with upload progress, because fetch reports none.
 */
import { CallResponse } from '../../../../../src-shared/api/contract';
import { deserializeError, PinholeError, type SerializedError } from '../../../../../src-shared/errors';
import type { Studio } from '../../../lib/studio';

/** Bytes sent of the request's total (browser uploads only). */
export type UploadProgress = (sent: number, total: number) => void;

/** Starts importing `files`; resolves to the `models-import` job's id. */
export async function importModelFiles(
  studio: Studio,
  files: readonly File[],
  onUpload: UploadProgress,
): Promise<{ jobId: string }> {
  const bridge = window.pinhole;
  if (studio.mode === 'desktop' && bridge) {
    const paths = files.map((file) => bridge.pathForFile(file)).filter((p) => p.length > 0);
    if (paths.length === 0) {
      throw new PinholeError('INVALID_PARAMS', 'None of the dropped items are files on this computer.');
    }
    return studio.client.call('models.import', { paths });
  }
  return uploadModelFiles(files, onUpload);
}

/** Multipart upload (field `files`, one part per file) with progress; the answer is a CallResponse. */
function uploadModelFiles(files: readonly File[], onUpload: UploadProgress): Promise<{ jobId: string }> {
  const form = new FormData();
  for (const file of files) form.append('files', file, file.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/upload?target=models');
    xhr.withCredentials = true;
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onUpload(event.loaded, event.total);
    };
    xhr.onerror = () => reject(new PinholeError('UNAVAILABLE', 'Cannot reach the Pinhole server.'));
    xhr.onabort = () => reject(new PinholeError('CANCELED', 'The upload was cancelled.'));
    xhr.onload = () => {
      let body: unknown;
      try {
        body = JSON.parse(xhr.responseText) as unknown;
      } catch {
        reject(
          new PinholeError(
            xhr.status === 413 ? 'PAYLOAD_TOO_LARGE' : 'UNAVAILABLE',
            `The upload answered HTTP ${xhr.status}`,
          ),
        );
        return;
      }
      const envelope = CallResponse.safeParse(body);
      if (!envelope.success) return reject(new PinholeError('INTERNAL', 'The upload answer is not a call response.'));
      if (!envelope.data.ok) return reject(deserializeError(envelope.data.error as SerializedError));
      const result = envelope.data.result as { jobId?: unknown } | null;
      if (typeof result?.jobId !== 'string')
        return reject(new PinholeError('INTERNAL', 'The upload answer has no job id.'));
      resolve({ jobId: result.jobId });
    };
    xhr.send(form);
  });
}
