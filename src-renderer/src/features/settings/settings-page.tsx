/** Settings: facts about the running studio, and where the engine runs models. */
import { useEffect, useState } from 'react';
import type { ResultOf } from '../../../../src-shared/api/contract';
import { ErrorText } from '../../components/error-text';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { useConnectionStore } from '../../state/connection-store';
import { EngineSettings } from './engine-settings';

type AppInfo = ResultOf<'app.info'>;

/** The Settings page. */
export function SettingsPage() {
  const { client } = useStudio();
  const epoch = useConnectionStore((s) => s.epoch);
  const [info, setInfo] = useState<AppInfo | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (epoch === 0) return;
    let stale = false;
    client
      .call('app.info', {})
      .then((result) => {
        if (stale) return;
        setInfo(result);
        setError(null);
      })
      .catch((e: unknown) => !stale && setError(userMessage(e)));
    return () => {
      stale = true;
    };
  }, [client, epoch]);

  return (
    <section className="page settings" aria-labelledby="settings-title">
      <header className="page-head">
        <h1 id="settings-title">Settings</h1>
        <p className="muted">About this studio, and where it runs models.</p>
      </header>
      <ErrorText message={error} />
      {info ? (
        <dl className="facts settings-facts" data-testid="app-info">
          <dt>Version</dt>
          <dd data-testid="app-version">{info.version}</dd>
          <dt>Mode</dt>
          <dd data-testid="app-mode">{info.mode === 'desktop' ? 'Desktop app' : 'Headless server (browser)'}</dd>
          <dt>Data folder</dt>
          <dd className="mono" data-testid="app-data-dir">
            {info.dataDir}
          </dd>
          <dt>Database schema</dt>
          <dd>v{info.schemaVersion}</dd>
          <dt>Platform</dt>
          <dd>{info.platform}</dd>
        </dl>
      ) : (
        !error && <p className="muted">Loading…</p>
      )}
      <EngineSettings />
    </section>
  );
}
