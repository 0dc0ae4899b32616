/**
 * Generate: prompts with live token counts, a model, the usual A1111 settings, an optional
 * init image and mask, and the running job with its preview and results. The form lives in
 * this feature's own store (persisted), so leaving the page or reloading keeps it.
 */
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { ErrorText } from '../../components/error-text';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { takeGenerateHandoff, useGenerateHandoffStore } from '../../state/generate-handoff';
import { upsertJob } from '../../state/jobs-store';
import { validateForm } from './form-model';
import { applyRequest, setFormValues, useGenerateStore, watchRun } from './generate-store';
import { InitImagePanel } from './init-image-panel';
import { LoraPicker } from './lora-picker';
import { ModelPicker } from './model-picker';
import { VaePicker } from './vae-picker';
import { PromptField } from './prompt-field';
import { RunPanel } from './run-panel';
import { SettingsFields } from './settings-fields';
import './generate.css';

const FORM_ID = 'generate-form';

/** Applies what the gallery handed over ("Use settings", "Re-run"), once. */
function useHandoff(): void {
  const pending = useGenerateHandoffStore((s) => s.pending);
  useEffect(() => {
    if (!pending) return;
    const handoff = takeGenerateHandoff();
    if (handoff?.kind === 'use-settings') applyRequest(handoff.request, handoff.keepModel);
    else if (handoff?.kind === 'watch') watchRun({ jobId: handoff.jobId, seed: handoff.seed });
  }, [pending]);
}

/** The Generate page. */
export function GeneratePage() {
  const { client } = useStudio();
  useHandoff();
  const form = useGenerateStore(
    useShallow((s) => ({
      model: s.model,
      prompt: s.prompt,
      negativePrompt: s.negativePrompt,
      sampler: s.sampler,
      steps: s.steps,
      cfgScale: s.cfgScale,
      width: s.width,
      height: s.height,
      seedMode: s.seedMode,
      seed: s.seed,
      batchSize: s.batchSize,
      batchCount: s.batchCount,
      clipSkip: s.clipSkip,
      strength: s.strength,
      initImage: s.initImage,
      mask: s.mask,
      loras: s.loras,
      vae: s.vae,
    })),
  );
  const validated = useMemo(() => validateForm(form), [form]);
  const [starting, setStarting] = useState(false);
  const [startError, setStartError] = useState<string | null>(null);

  const generate = async (): Promise<void> => {
    const request = validated.request;
    if (!request || starting) return;
    setStarting(true);
    setStartError(null);
    try {
      const { jobId, seed } = await client.call('generate.start', { request });
      watchRun({ jobId, seed });
      // Show it at once; events keep it current from here.
      upsertJob(await client.call('jobs.get', { jobId }));
    } catch (e) {
      setStartError(userMessage(e));
    } finally {
      setStarting(false);
    }
  };

  const onSubmit = (event: FormEvent): void => {
    event.preventDefault();
    void generate();
  };

  const mode = form.initImage ? (form.mask ? 'Inpaint' : 'Image to image') : 'Text to image';

  return (
    <section className="page generate" aria-labelledby="generate-title">
      <header className="page-head">
        <h1 id="generate-title">Generate</h1>
        <p className="muted">Text to image, image to image and inpainting, on this computer's GPU.</p>
      </header>
      <div className="generate-layout">
        <form id={FORM_ID} className="generate-form" onSubmit={onSubmit} aria-label="Generation settings" noValidate>
          <ModelPicker value={form.model} onChange={(model) => setFormValues({ model })} />
          <PromptField
            name="prompt"
            label="Prompt"
            value={form.prompt}
            model={form.model}
            rows={4}
            placeholder="What to see: a photo of a red fox in the snow, golden hour…"
            error={validated.errors.prompt}
            onChange={(prompt) => setFormValues({ prompt })}
            onSubmit={() => void generate()}
          />
          <PromptField
            name="negative-prompt"
            label="Negative prompt"
            value={form.negativePrompt}
            model={form.model}
            rows={2}
            placeholder="What to avoid: blurry, low quality…"
            error={validated.errors.negativePrompt}
            onChange={(negativePrompt) => setFormValues({ negativePrompt })}
            onSubmit={() => void generate()}
          />
          <LoraPicker value={form.loras} onChange={(loras) => setFormValues({ loras })} />
          <VaePicker value={form.vae} onChange={(vae) => setFormValues({ vae })} />
          <SettingsFields errors={validated.errors} />
          <InitImagePanel strengthError={validated.errors.strength} />
        </form>
        <aside className="generate-output" aria-label="Output">
          <div className="generate-action">
            <button
              type="submit"
              form={FORM_ID}
              className="button button-primary generate-button"
              disabled={validated.request === null || starting}
              data-testid="generate-button"
              data-mode={mode}
            >
              {starting ? 'Starting…' : 'Generate'}
            </button>
            <span className="muted generate-mode" data-testid="generate-mode">
              {mode}
            </span>
          </div>
          {validated.problem && (
            <p className="muted" data-testid="generate-problem">
              {validated.problem}
            </p>
          )}
          <ErrorText message={startError} testId="generate-start-error" />
          <RunPanel />
        </aside>
      </div>
    </section>
  );
}
