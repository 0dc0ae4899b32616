/**
 * What made a generated image: prompt, negative prompt and the A1111 parameters text, with
 * "Use settings" (fill the Generate form with the stored request, seed included) and "Re-run"
 * (queue exactly that request again and watch it on the Generate page). An imported PNG has no
 * stored request; its A1111 `parameters` are read instead (the model found in the library by its
 * hash or name), with what cannot be carried over listed. Re-run needs that model; "Use settings"
 * without it keeps the Generate page's model.
 */
import { useEffect, useMemo, useState } from 'react';
import { MEDIA_PATHS } from '../../../../src-shared/api/bridge';
import {
  findInfotextModel,
  requestFromInfotext,
  settingsFromInfotext,
  type InfotextSettings,
} from '../../../../src-shared/api/infotext';
import { GenerateParams, type ImageDetail, type ModelEntry } from '../../../../src-shared/api/schemas';
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

/** An imported image's A1111 settings, when it has no stored request and its `parameters` text is an infotext. */
export function importedSettings(detail: ImageDetail): InfotextSettings | null {
  const text = detail.metadata['parameters'];
  return storedRequest(detail) === null && typeof text === 'string' ? settingsFromInfotext(text) : null;
}

/** The library's checkpoints, fetched when `enabled` (null until they arrive; [] when the call fails). */
function useCheckpoints(enabled: boolean): ModelEntry[] | null {
  const { client } = useStudio();
  const [models, setModels] = useState<ModelEntry[] | null>(null);
  useEffect(() => {
    if (!enabled) return;
    let stale = false;
    client
      .call('models.list', { kind: 'checkpoint' })
      .then((list) => !stale && setModels(list))
      // Without the list the settings still apply, with the Generate page's model.
      .catch(() => !stale && setModels([]));
    return () => {
      stale = true;
    };
  }, [client, enabled]);
  return models;
}

/** Where an imported image's settings come from, the model they name, and what does not carry over. */
function ImportedFacts({ settings, model }: { settings: InfotextSettings; model: ModelEntry | undefined }) {
  const named = settings.modelName ?? settings.modelHash;
  return (
    <div className="detail-imported" data-testid="detail-imported">
      <p className="muted">Settings read from the image's A1111 parameters.</p>
      <p data-testid="detail-imported-model">
        {model
          ? `Model: ${model.name}`
          : `${named ? `The model “${named}”` : 'The model'} is not in the library: “Use settings” keeps the Generate page's model, and re-running needs the model.`}
      </p>
      {settings.notes.length > 0 && (
        <ul className="muted" data-testid="detail-infotext-notes">
          {settings.notes.map((note) => (
            <li key={note}>{note}</li>
          ))}
        </ul>
      )}
    </div>
  );
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
  const stored = storedRequest(detail);
  const imported = useMemo(() => importedSettings(detail), [detail]);
  const models = useCheckpoints(imported !== null);
  const model = imported && models ? findInfotextModel(imported, models) : undefined;
  // Without a library model the request carries a placeholder the Generate page does not take (keepModel).
  const request =
    stored ??
    (imported && models ? requestFromInfotext(imported, model?.path ?? imported.modelName ?? 'unknown') : null);
  const canRerun = stored !== null || model !== undefined;
  const parameters = typeof detail.metadata['parameters'] === 'string' ? detail.metadata['parameters'] : null;

  const useSettings = (): void => {
    if (!request) return;
    handOffToGenerate({ kind: 'use-settings', request, keepModel: stored === null && model === undefined });
    onLeave();
    navigate('generate');
  };

  const rerun = async (): Promise<void> => {
    if (!request || !canRerun) return;
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
      {stored && <InputImages request={stored} />}
      {imported && models && <ImportedFacts settings={imported} model={model} />}
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
          {canRerun && (
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
          )}
        </div>
      ) : imported && !models ? null : (
        <p className="muted">The request that made this image was not stored, so it cannot be re-run.</p>
      )}
      <ErrorText message={error} testId="detail-rerun-error" />
    </section>
  );
}
