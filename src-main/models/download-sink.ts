/**
 * Verified downloads enter the library here: the download job hands over a file whose SHA-256
 * it checked, already on the data home's volume, so it is moved into place, not copied again.
 */
import { PinholeError } from '../../src-shared/errors';
import type { DownloadedModelSink } from './download/model-sink';
import { adoptModelFile } from './import-model-file';
import type { ModelLibrary } from './model-library';

export function createDownloadSink(library: ModelLibrary): DownloadedModelSink {
  return {
    onVerified: async (file, info) => {
      const outcome = await adoptModelFile(library.importDeps, {
        path: file,
        file: info.fileName,
        source: 'url',
        origin: info.sourceUrl,
        name: info.name ?? undefined,
        sha256: info.sha256,
        bytes: info.bytes,
      });
      if (outcome.status === 'rejected') {
        throw new PinholeError('IMPORT_REJECTED', `${info.fileName}: ${outcome.reason ?? 'not a usable model'}`);
      }
      const stored = library.resolve(outcome.name!, outcome.kind);
      if (!stored) throw new PinholeError('INTERNAL', `The downloaded model "${outcome.name}" is not in the library.`);
      library.onDidChange.fire();
      return { file: stored.file, name: stored.record.name };
    },
  };
}
