/**
 * An image's caption, edited in place: saved on blur or Enter, reverted with Escape.
 * Callers key it by the saved caption, so a caption changed elsewhere replaces the draft.
 */
import { useState, type KeyboardEvent } from 'react';
import type { DatasetImage } from '../../../../src-shared/api/schemas';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { replaceDatasetImage } from './dataset-images-store';

/** The caption editor for one dataset image. */
export function CaptionField({ image }: { image: DatasetImage }) {
  const { client } = useStudio();
  const [draft, setDraft] = useState(image.caption);
  const [state, setState] = useState<'idle' | 'saving' | 'saved'>('idle');
  const [error, setError] = useState<string | null>(null);

  const save = async (): Promise<void> => {
    // The core trims captions; comparing trimmed avoids a pointless write.
    if (draft.trim() === image.caption || state === 'saving') return;
    setState('saving');
    setError(null);
    try {
      const saved = await client.call('datasets.setCaption', {
        datasetId: image.datasetId,
        sha256: image.sha256,
        caption: draft,
      });
      setState('saved');
      // The new caption re-keys this field (see above), which also shows the saved text.
      replaceDatasetImage(saved);
    } catch (e) {
      setState('idle');
      setError(userMessage(e));
    }
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>): void => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      event.currentTarget.blur();
    } else if (event.key === 'Escape') {
      setDraft(image.caption);
      setError(null);
    }
  };

  return (
    <div className="caption">
      <textarea
        className="caption-input"
        value={draft}
        rows={2}
        maxLength={2000}
        placeholder="Add a caption…"
        aria-label={`Caption for ${image.originalName}`}
        aria-invalid={error !== null}
        onChange={(e) => setDraft(e.target.value)}
        onBlur={() => void save()}
        onKeyDown={onKeyDown}
        data-testid="caption-input"
      />
      {state === 'saving' && <span className="caption-status">Saving…</span>}
      {error && (
        <span className="caption-status caption-error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}
