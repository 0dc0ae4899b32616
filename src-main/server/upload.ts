/**
 * Browser uploads: multipart files streamed to a fresh batch folder under the data home,
 * with a size limit per file and per request; the batch then goes through the same import
 * job as desktop drops. A request over a limit is refused whole and its batch deleted.
 */
import Busboy from 'busboy';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UPLOAD_LIMITS } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import { newId } from '../platform/ids';

export type UploadLimits = { maxFileBytes: number; maxRequestBytes: number; maxFiles: number };

/** A safe file name for disk: the base name only, no control or path characters, unique in the batch. */
export function safeFileName(name: string, taken: Set<string>): string {
  // Control characters are exactly what must go, with the characters Windows forbids in names.
  // eslint-disable-next-line no-control-regex
  const unsafe = /[\u0000-\u001f<>:"/\\|?*]/g;
  const base = path.basename(name.replace(/\\/g, '/')).replace(unsafe, '_').slice(-200);
  const clean = base === '' || base === '.' || base === '..' ? 'upload' : base;
  let candidate = clean;
  for (let i = 2; taken.has(candidate.toLowerCase()); i++) {
    const ext = path.extname(clean);
    candidate = `${clean.slice(0, clean.length - ext.length)} (${i})${ext}`;
  }
  taken.add(candidate.toLowerCase());
  return candidate;
}

/** Receives one multipart request into `uploadsRoot/<batch>/`; returns the batch folder. */
export async function receiveUpload(
  req: IncomingMessage,
  uploadsRoot: string,
  limits: UploadLimits = UPLOAD_LIMITS,
): Promise<{ folder: string; files: number }> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limits.maxRequestBytes) {
    throw new PinholeError(
      'PAYLOAD_TOO_LARGE',
      `The upload is over the ${mb(limits.maxRequestBytes)} limit per request.`,
    );
  }
  const folder = path.join(uploadsRoot, newId('upload'));
  await mkdir(folder, { recursive: true });
  try {
    const files = await new Promise<number>((resolve, reject) => {
      let busboy: Busboy.Busboy;
      try {
        busboy = Busboy({
          headers: req.headers,
          limits: { fileSize: limits.maxFileBytes, files: limits.maxFiles, fields: 10, fieldSize: 1024 },
        });
      } catch (error) {
        reject(new PinholeError('INVALID_PARAMS', `Not a multipart upload: ${(error as Error).message}`));
        return;
      }
      const taken = new Set<string>();
      const writes: Promise<void>[] = [];
      let total = 0;
      let failed = false;
      const fail = (error: PinholeError) => {
        if (failed) return;
        failed = true;
        req.unpipe(busboy);
        req.resume();
        reject(error);
      };
      busboy.on('file', (_field, stream, info) => {
        const name = safeFileName(info.filename || 'upload', taken);
        stream.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > limits.maxRequestBytes) {
            fail(
              new PinholeError(
                'PAYLOAD_TOO_LARGE',
                `The upload is over the ${mb(limits.maxRequestBytes)} limit per request.`,
              ),
            );
          }
        });
        stream.on('limit', () =>
          fail(
            new PinholeError(
              'PAYLOAD_TOO_LARGE',
              `${info.filename} is over the ${mb(limits.maxFileBytes)} limit per file.`,
            ),
          ),
        );
        writes.push(pipeline(stream, createWriteStream(path.join(folder, name))));
      });
      busboy.on('filesLimit', () =>
        fail(new PinholeError('PAYLOAD_TOO_LARGE', `At most ${limits.maxFiles} files per upload.`)),
      );
      busboy.on('error', (error: Error) => fail(new PinholeError('INVALID_PARAMS', `Upload failed: ${error.message}`)));
      busboy.on('close', () => {
        if (failed) return;
        Promise.all(writes).then(
          () => resolve(writes.length),
          (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
        );
      });
      req.on('aborted', () => fail(new PinholeError('INVALID_PARAMS', 'The upload was aborted.')));
      req.pipe(busboy);
    });
    if (files === 0) throw new PinholeError('INVALID_PARAMS', 'The upload contains no files.');
    return { folder, files };
  } catch (error) {
    await rm(folder, { recursive: true, force: true });
    throw error;
  }
}

function mb(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MB`;
}
