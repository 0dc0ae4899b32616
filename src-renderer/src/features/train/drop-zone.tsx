/**
 * Where photos come in: drag and drop (files or folders), a file picker and a folder picker.
 * The desktop reads files in place by path and uses native dialogs; the browser uploads them.
 */
import { useRef, useState, type DragEvent } from 'react';
import { ErrorText } from '../../components/error-text';
import { plural } from '../../components/format';
import { collectDroppedFiles } from '../../lib/dropped-files';
import { withoutModelFiles } from '../../lib/model-files';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { upsertJob } from '../../state/jobs-store';

type Props = { datasetName: string };

// React has no typed prop for it; set it on the element so the picker selects folders.
function folderPicker(input: HTMLInputElement | null): void {
  input?.setAttribute('webkitdirectory', '');
}

/** The drop zone and pickers for one dataset. */
export function DropZone({ datasetName }: Props) {
  const studio = useStudio();
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  // Runs one import start (upload, paths or picker) and puts its job in the tray right away.
  const start = async (label: string, begin: () => Promise<{ jobId: string } | null>): Promise<void> => {
    setBusy(label);
    setError(null);
    try {
      const started = await begin();
      if (started) upsertJob(await studio.client.call('jobs.get', { jobId: started.jobId }));
    } catch (e) {
      setError(userMessage(e));
    } finally {
      setBusy(null);
    }
  };

  const importFiles = (files: File[]): Promise<void> => {
    if (files.length === 0) return Promise.resolve();
    const verb = studio.mode === 'headless' ? 'Uploading' : 'Adding';
    return start(`${verb} ${plural(files.length, 'file')}…`, () => studio.importFiles(datasetName, files));
  };

  const onDrop = (event: DragEvent): void => {
    event.preventDefault();
    setDragging(false);
    if (busy) return;
    // The desktop resolves a dropped folder to its path; only the browser must walk it.
    const files =
      studio.mode === 'desktop'
        ? Promise.resolve(Array.from(event.dataTransfer.files))
        : collectDroppedFiles(event.dataTransfer);
    // Model files in the drop go to the models library (the window-wide drop, src/app), not into the dataset.
    void files.then(
      (all) => importFiles(withoutModelFiles(all)),
      (e: unknown) => setError(userMessage(e)),
    );
  };

  const pick = (kind: 'files' | 'folder'): void => {
    const native = studio.pickAndImport;
    if (native) {
      void start('Adding…', () => native(datasetName, kind));
    } else {
      (kind === 'files' ? fileInput : folderInput).current?.click();
    }
  };

  const fromInput = (input: HTMLInputElement): void => {
    const files = Array.from(input.files ?? []);
    // Clear it so choosing the same files again still fires `change`.
    input.value = '';
    void importFiles(files);
  };

  return (
    <div
      className={dragging ? 'drop-zone dragging' : 'drop-zone'}
      data-testid="drop-zone"
      onDragEnter={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragOver={(e) => {
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
      }}
      onDragLeave={(e) => {
        // Leaving into a child element is not leaving the zone.
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={onDrop}
    >
      <p className="drop-title">Drop photos or folders here</p>
      <p className="muted">
        JPEG, PNG, WebP and more; a .txt file with the same name becomes the caption. Duplicates and broken files are
        reported, not imported.
      </p>
      <div className="drop-actions">
        <button
          type="button"
          className="button"
          onClick={() => pick('files')}
          disabled={busy !== null}
          data-testid="pick-files"
        >
          Choose photos…
        </button>
        <button
          type="button"
          className="button"
          onClick={() => pick('folder')}
          disabled={busy !== null}
          data-testid="pick-folder"
        >
          Choose a folder…
        </button>
      </div>
      {studio.mode === 'headless' && (
        <>
          <input
            ref={fileInput}
            type="file"
            multiple
            accept="image/*,.txt"
            hidden
            aria-label="Photos to import"
            data-testid="file-input"
            onChange={(e) => fromInput(e.currentTarget)}
          />
          <input
            ref={(el) => {
              folderInput.current = el;
              folderPicker(el);
            }}
            type="file"
            multiple
            hidden
            aria-label="Folder to import"
            data-testid="folder-input"
            onChange={(e) => fromInput(e.currentTarget)}
          />
        </>
      )}
      {busy && (
        <p className="drop-busy" role="status" data-testid="import-busy">
          {busy}
        </p>
      )}
      <ErrorText message={error} testId="import-error" />
    </div>
  );
}
