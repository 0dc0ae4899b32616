/**
 * Settings → Graphics: which execution provider the engine runs on, why the better ones were skipped (CUDA's
 * libraries missing, no GPU behind a WebGPU adapter, …), and a choice that forces one. Changing it restarts the
 * engine; the core refuses while a generation or training job runs, and the message says so.
 */
import { useCallback, useEffect, useId, useState } from 'react';
import type { ResultOf } from '../../../../src-shared/api/contract';
import type { ExecutionProviderChoice } from '../../../../src-shared/api/settings-schemas';
import { ErrorText } from '../../components/error-text';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { useConnectionStore } from '../../state/connection-store';

type EngineInfo = ResultOf<'engine.info'>;

const CHOICES: { value: ExecutionProviderChoice; label: string }[] = [
  { value: 'auto', label: 'Automatic (the best that works here)' },
  { value: 'cuda', label: 'CUDA (NVIDIA)' },
  { value: 'dml', label: 'DirectML (Windows, any GPU)' },
  { value: 'coreml', label: 'CoreML (macOS)' },
  { value: 'webgpu', label: 'WebGPU' },
  { value: 'cpu', label: 'CPU' },
];

const NAMES: Record<string, string> = { cuda: 'CUDA', dml: 'DirectML', coreml: 'CoreML', webgpu: 'WebGPU', cpu: 'CPU' };

function sourceNote(info: EngineInfo): string {
  switch (info.source) {
    case 'environment':
      return 'Forced by PINHOLE_EP in the environment the studio was started with; it overrides the choice below.';
    case 'setting':
      return 'Chosen below.';
    case 'probe':
      return 'Chosen automatically: the first provider in order of preference that loaded and ran a test model.';
  }
}

/** The Graphics section of the Settings page. */
export function EngineSettings() {
  const { client } = useStudio();
  const epoch = useConnectionStore((s) => s.epoch);
  const ids = useId();
  const [info, setInfo] = useState<EngineInfo | null>(null);
  const [stored, setStored] = useState<ExecutionProviderChoice | null>(null);
  const [choice, setChoice] = useState<ExecutionProviderChoice>('auto');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(
    () =>
      client
        .call('settings.get', {})
        .then((settings) => {
          setStored(settings.executionProvider);
          setChoice(settings.executionProvider);
          // Starts the engine process when it is not running: probing takes a moment.
          return client.call('engine.info', {});
        })
        .then(setInfo, (e: unknown) => setError(userMessage(e))),
    [client],
  );

  useEffect(() => {
    if (epoch > 0) void refresh();
  }, [epoch, refresh]);

  const apply = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await client.call('settings.update', { executionProvider: choice });
      setInfo(null);
      await refresh();
    } catch (e) {
      setError(userMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="settings-section" aria-labelledby={`${ids}-title`} data-testid="engine-settings">
      <h2 id={`${ids}-title`}>Graphics</h2>
      {info ? (
        <dl className="facts settings-facts">
          <dt>Running on</dt>
          <dd data-testid="engine-provider">
            {NAMES[info.provider] ?? info.provider}
            <span className="muted"> — models converted in {info.weightPrecision}</span>
          </dd>
          <dt>Why</dt>
          <dd data-testid="engine-source">{sourceNote(info)}</dd>
          <dt>Tried</dt>
          <dd>
            <ul className="provider-attempts" data-testid="engine-attempts">
              {info.attempts.map((a) => (
                <li key={a.provider} data-provider={a.provider} data-ok={a.ok ? 'true' : 'false'}>
                  <strong>{NAMES[a.provider] ?? a.provider}</strong>: {a.ok ? 'works' : `skipped — ${a.reason ?? ''}`}
                </li>
              ))}
            </ul>
          </dd>
        </dl>
      ) : (
        !error && <p className="muted">Asking the engine…</p>
      )}
      <div className="settings-row">
        <label htmlFor={`${ids}-provider`}>Run models on</label>
        <select
          id={`${ids}-provider`}
          className="input"
          value={choice}
          onChange={(e) => setChoice(e.target.value as ExecutionProviderChoice)}
          disabled={busy || stored === null}
          data-testid="engine-provider-select"
        >
          {CHOICES.map((c) => (
            <option key={c.value} value={c.value}>
              {c.label}
            </option>
          ))}
        </select>
        <button
          type="button"
          className="button"
          disabled={busy || stored === null || choice === stored}
          onClick={() => void apply()}
          data-testid="engine-provider-apply"
        >
          {busy ? 'Restarting the engine…' : 'Apply'}
        </button>
      </div>
      <p className="muted">
        A provider that cannot load here falls back to nothing: the next job fails saying why. Switching restarts the
        engine, so finish or cancel running jobs first.
      </p>
      <ErrorText message={error} testId="engine-settings-error" />
    </section>
  );
}
