/**
 * What made a generated image: prompt, negative prompt and the A1111 parameters text, with
 * "Use settings" (fill the Generate form with the stored request, seed included) and "Re-run"
 * (queue exactly that request again and watch it on the Generate page).
 */
import { useState } from 'react';
import { MEDIA_PATHS } from '../../../../src-shared/api/bridge';
import { GenerateParams, type ImageDetail } from '../../../../src-shared/api/schemas';
import { ErrorText } from '../../components/error-text';
import { userMessage } from '../../lib/errors';
import { navigate } from '../../lib/router';
import { useStudio } from '../../lib/studio-context';
import { handOffToGenerate } from '../../state/generate-handoff';
import { storedInputSha } from './input-media';
import { upsertJob } from '../../state/jobs-store';

type Props = {
  detail: ImageDetail;
  /** Called just before leaving for the Generate page (the dialog must not treat it as a close). */
  onLeave: () => void;
};

/** The request stored with a generated image, when it is one this build can send again. */
export function storedRequest(detail: ImageDetail): GenerateParams | null {
  const parsed = GenerateParams.safeParse(detail.metadata['request']);
  return parsed.success ? parsed.data : null;
}

/** The init image and mask of an img2img / inpainting request, as images where the core serves them. */
function InputImages({ request }: { request: GenerateParams }) {
  const { mode } = useStudio();
  const urls = mode === 'desktop' ? MEDIA_PATHS.desktop : MEDIA_PATHS.headless;
  const inputs = [
    { label: 'Init image', ref: request.initImage, testId: 'detail-init-image' },
    { label: 'Mask', ref: request.maskImage, testId: 'detail-mask-image' },
  ].filter((input) => input.ref !== undefined);
  if (inputs.length === 0) return null;
  return (
    <div className="detail-inputs">
      {inputs.map(({ label, ref, testId }) => {
        const sha = storedInputSha(ref);
        return (
          <figure key={label} className="detail-input" data-testid={testId}>
            {sha ? (
              <img src={urls.input(sha)} alt={label} />
            ) : (
              <span className="muted">{ref && 'path' in ref ? ref.path : 'inline image'}</span>
            )}
            <figcaption>{label}</figcaption>
          </figure>
        );
      })}
    </div>
  );
}

/** The generation facts and actions of one image. */
export function GenerationSection({ detail, onLeave }: Props) {
  const { client } = useStudio();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const request = storedRequest(detail);
  const parameters = typeof detail.metadata['parameters'] === 'string' ? detail.metadata['parameters'] : null;

  const useSettings = (): void => {
    if (!request) return;
    handOffToGenerate({ kind: 'use-settings', request });
    onLeave();
    navigate('generate');
  };

  const rerun = async (): Promise<void> => {
    if (!request) return;
    setBusy(true);
    setError(null);
    try {
      const { jobId, seed } = await client.call('generate.start', { request });
      upsertJob(await client.call('jobs.get', { jobId }));
      handOffToGenerate({ kind: 'watch', jobId, seed });
      onLeave();
      navigate('generate');
    } catch (e) {
      setError(userMessage(e));
      setBusy(false);
    }
  };

  return (
    <section className="detail-section" data-testid="detail-generation">
      <h3>Prompt</h3>
      <p className="prompt" data-testid="detail-prompt">
        {detail.prompt || <span className="muted">No prompt</span>}
      </p>
      {detail.negativePrompt && (
        <>
          <h3>Negative prompt</h3>
          <p className="prompt" data-testid="detail-negative-prompt">
            {detail.negativePrompt}
          </p>
        </>
      )}
      {parameters && (
        <>
          <h3>Parameters</h3>
          <pre className="parameters" data-testid="detail-parameters">
            {parameters}
          </pre>
        </>
      )}
      {request && <InputImages request={request} />}
      {request ? (
        <div className="detail-actions">
          <button
            type="button"
            className="button button-small"
            onClick={useSettings}
            disabled={busy}
            title="Fill the Generate form with these settings, seed included"
            data-testid="detail-use-settings"
          >
            Use settings
          </button>
          <button
            type="button"
            className="button button-small button-primary"
            onClick={() => void rerun()}
            disabled={busy}
            title="Generate this image again with exactly the same request"
            data-testid="detail-rerun"
          >
            {busy ? 'Starting…' : 'Re-run'}
          </button>
        </div>
      ) : (
        <p className="muted">The request that made this image was not stored, so it cannot be re-run.</p>
      )}
      <ErrorText message={error} testId="detail-rerun-error" />
    </section>
  );
}
