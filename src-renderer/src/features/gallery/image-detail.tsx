/**
 * One image, large, with everything the library knows about it: size, format, bytes, dates,
 * prompt, metadata and the datasets it is in with their captions. A modal <dialog>, so focus
 * is trapped and Escape closes it without extra code.
 */
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { ImageDetail } from '../../../../src-shared/api/schemas';
import { ErrorText } from '../../components/error-text';
import { formatBytes, formatDateTime } from '../../components/format';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { GenerationSection } from './generation-section';

type Props = {
  sha256: string;
  onClose: () => void;
  /** Neighbours in the loaded grid, for Previous/Next; null at either end. */
  previous: string | null;
  next: string | null;
  onNavigate: (sha256: string) => void;
};

type Loaded = { sha256: string; detail: ImageDetail | null; error: string | null };

function metadataValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Metadata keys the generation section shows in its own way. */
const SHOWN_ELSEWHERE: ReadonlySet<string> = new Set(['parameters', 'request']);

/** The detail dialog for one image. */
export function ImageDetailDialog({ sha256, onClose, previous, next, onNavigate }: Props) {
  const { client, media } = useStudio();
  const dialog = useRef<HTMLDialogElement>(null);
  // Set when an action leaves for another page: the dialog goes away with the page, not as a close.
  const leaving = useRef(false);
  const [loaded, setLoaded] = useState<Loaded | null>(null);

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
  }, []);

  useEffect(() => {
    let stale = false;
    client
      .call('gallery.get', { sha256 })
      .then((detail) => !stale && setLoaded({ sha256, detail, error: null }))
      .catch((error: unknown) => !stale && setLoaded({ sha256, detail: null, error: userMessage(error) }));
    return () => {
      stale = true;
    };
  }, [client, sha256]);

  // An answer for the previous image must not show under the new one's header.
  const current = loaded?.sha256 === sha256 ? loaded : null;
  const detail = current?.detail ?? null;
  // Generated images, and imported ones carrying A1111 parameters, get the generation section.
  const generation =
    detail !== null && (detail.source === 'generated' || typeof detail.metadata['parameters'] === 'string');
  const metadata = detail
    ? Object.entries(detail.metadata).filter(([key]) => !generation || !SHOWN_ELSEWHERE.has(key))
    : [];

  const onKeyDown = (event: KeyboardEvent): void => {
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
    if (event.key === 'ArrowLeft' && previous) onNavigate(previous);
    if (event.key === 'ArrowRight' && next) onNavigate(next);
  };

  return (
    <dialog
      ref={dialog}
      className="detail"
      aria-labelledby="detail-title"
      onClose={() => {
        if (!leaving.current) onClose();
      }}
      onKeyDown={onKeyDown}
      data-testid="image-detail"
    >
      <div className="detail-media">
        <img src={media.image(sha256)} alt={detail?.title ?? ''} data-testid="detail-image" />
      </div>
      <div className="detail-side">
        <header className="detail-head">
          <h2 id="detail-title" data-testid="detail-title">
            {detail?.title || 'Image'}
          </h2>
          <button
            type="button"
            className="button button-small"
            onClick={() => dialog.current?.close()}
            aria-label="Close"
            autoFocus
          >
            ✕
          </button>
        </header>
        <div className="detail-nav">
          <button
            type="button"
            className="button button-small"
            disabled={!previous}
            onClick={() => previous && onNavigate(previous)}
          >
            ← Previous
          </button>
          <button
            type="button"
            className="button button-small"
            disabled={!next}
            onClick={() => next && onNavigate(next)}
          >
            Next →
          </button>
        </div>
        <ErrorText message={current?.error ?? null} testId="detail-error" />
        {!current && <p className="muted">Loading…</p>}
        {detail && (
          <>
            <dl className="facts" data-testid="detail-facts">
              <dt>Size</dt>
              <dd data-testid="detail-size">
                {detail.width} × {detail.height}
              </dd>
              <dt>Format</dt>
              <dd data-testid="detail-format">{detail.format.toUpperCase()}</dd>
              <dt>File size</dt>
              <dd data-testid="detail-bytes">{formatBytes(detail.bytes)}</dd>
              <dt>Source</dt>
              <dd>{detail.source === 'import' ? 'Imported' : 'Generated'}</dd>
              <dt>Added</dt>
              <dd>{formatDateTime(detail.createdAt)}</dd>
              <dt>SHA-256</dt>
              <dd className="mono" title={detail.sha256}>
                {detail.sha256.slice(0, 16)}…
              </dd>
            </dl>
            {generation ? (
              <GenerationSection
                detail={detail}
                onLeave={() => {
                  leaving.current = true;
                }}
              />
            ) : (
              detail.prompt !== null && (
                <section className="detail-section">
                  <h3>Prompt</h3>
                  <p className="prompt" data-testid="detail-prompt">
                    {detail.prompt}
                  </p>
                  {detail.negativePrompt && (
                    <>
                      <h3>Negative prompt</h3>
                      <p className="prompt" data-testid="detail-negative-prompt">
                        {detail.negativePrompt}
                      </p>
                    </>
                  )}
                </section>
              )
            )}
            <section className="detail-section">
              <h3>Datasets</h3>
              {detail.datasets.length === 0 ? (
                <p className="muted">Not in any dataset.</p>
              ) : (
                <ul className="detail-datasets" data-testid="detail-datasets">
                  {detail.datasets.map((d) => (
                    <li key={d.id} data-testid="detail-dataset" data-dataset-name={d.name}>
                      <strong>{d.name}</strong>
                      <span className={d.caption ? '' : 'muted'}>{d.caption || 'No caption'}</span>
                    </li>
                  ))}
                </ul>
              )}
            </section>
            {metadata.length > 0 && (
              <section className="detail-section">
                <h3>Metadata</h3>
                <dl className="facts facts-small" data-testid="detail-metadata">
                  {metadata.map(([key, value]) => (
                    <div key={key} className="fact">
                      <dt>{key}</dt>
                      <dd>{metadataValue(value)}</dd>
                    </div>
                  ))}
                </dl>
              </section>
            )}
          </>
        )}
      </div>
    </dialog>
  );
}
