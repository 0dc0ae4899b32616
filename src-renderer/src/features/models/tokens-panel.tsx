/**
 * Access tokens for gated downloads (a Hugging Face token), by host: add one, see which hosts have
 * one and where it comes from, remove one. The core keeps the tokens (`tokens.*`); this page only
 * ever sends a token, never reads one back — the list carries host names and sources only, and the
 * field is cleared once the token is saved.
 */
import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import type { TokenHost } from '../../../../src-shared/api/schemas';
import { ErrorText } from '../../components/error-text';
import { toPinholeError, userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { useConnectionStore } from '../../state/connection-store';

const SOURCE_LABELS: Record<TokenHost['source'], string> = {
  keychain: 'in the system keychain',
  session: 'until the server stops',
  environment: 'from PINHOLE_HF_TOKEN',
};

// The token store answers UNAVAILABLE with a sentence written for people ("no secret service is
// running…"), and a lost connection's UNAVAILABLE says so too: show those as they are.
function tokenError(error: unknown): string {
  const e = toPinholeError(error);
  return e.code === 'UNAVAILABLE' ? e.message : userMessage(e);
}

/** Where a saved token goes, per mode (the desktop's keychain store, the server's memory). */
function storageNote(mode: 'desktop' | 'headless'): string {
  return mode === 'desktop'
    ? 'Saved encrypted by your system keychain (Keychain on macOS, DPAPI on Windows, GNOME Keyring or KWallet on ' +
        'Linux), never in plain text. A token is sent only to its own host.'
    : 'This server keeps tokens in memory only: they are forgotten when it stops, and never written to disk. ' +
        'To keep a Hugging Face token, start the server with PINHOLE_HF_TOKEN set. A token is sent only to its own host.';
}

/** The panel. */
export function TokensPanel() {
  const { client, mode } = useStudio();
  const epoch = useConnectionStore((s) => s.epoch);
  const ids = useId();
  const [hosts, setHosts] = useState<TokenHost[] | null>(null);
  const [host, setHost] = useState('huggingface.co');
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const refresh = useCallback(
    () =>
      client.call('tokens.list', {}).then(
        (list) => setHosts([...list].sort((a, b) => a.host.localeCompare(b.host))),
        (e: unknown) => setError(tokenError(e)),
      ),
    [client],
  );
  useEffect(() => {
    if (epoch > 0) void refresh();
  }, [epoch, refresh]);

  const act = async (what: () => Promise<string>): Promise<void> => {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      setNotice(await what());
      await refresh();
    } catch (e) {
      setError(tokenError(e));
    } finally {
      setBusy(false);
    }
  };

  const save = (event: FormEvent): void => {
    event.preventDefault();
    void act(async () => {
      const saved = await client.call('tokens.set', { host, token });
      setToken('');
      setHost(saved.host);
      return `Saved a token for ${saved.host}.`;
    });
  };

  const remove = (name: string): void => {
    void act(async () => {
      const { removed } = await client.call('tokens.remove', { host: name });
      return removed ? `Removed the token for ${name}.` : `No token of yours was stored for ${name}.`;
    });
  };

  return (
    <section className="models-tokens" aria-labelledby={`${ids}-title`} data-testid="models-tokens">
      <h2 id={`${ids}-title`}>Access tokens</h2>
      <p className="muted">
        Gated downloads (some Hugging Face models) need a token from your account. {storageNote(mode)}
      </p>
      <form className="tokens-form" onSubmit={save}>
        <label htmlFor={`${ids}-host`}>Host</label>
        <input
          id={`${ids}-host`}
          className="input"
          value={host}
          onChange={(e) => setHost(e.target.value)}
          autoComplete="off"
          spellCheck={false}
          data-testid="token-host"
        />
        <label htmlFor={`${ids}-token`}>Token</label>
        <input
          id={`${ids}-token`}
          className="input"
          type="password"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          autoComplete="off"
          spellCheck={false}
          placeholder="hf_…"
          data-testid="token-value"
        />
        <button
          type="submit"
          className="button"
          disabled={busy || host.trim() === '' || token.trim() === ''}
          data-testid="token-save"
        >
          Save token
        </button>
      </form>
      <ErrorText message={error} testId="tokens-error" />
      {notice && (
        <p className="muted" role="status" data-testid="tokens-notice">
          {notice}
        </p>
      )}
      {hosts !== null && hosts.length === 0 && <p className="muted">No tokens yet.</p>}
      {hosts !== null && hosts.length > 0 && (
        <ul className="token-hosts" aria-label="Hosts with a token">
          {hosts.map((h) => (
            <li key={h.host} className="token-host" data-testid="token-row" data-host={h.host} data-source={h.source}>
              <span className="mono">{h.host}</span>
              <span className="muted">{SOURCE_LABELS[h.source]}</span>
              {h.source === 'environment' ? (
                <span className="muted">unset the variable to remove it</span>
              ) : (
                <button
                  type="button"
                  className="button button-small button-danger"
                  disabled={busy}
                  onClick={() => remove(h.host)}
                  data-testid="token-remove"
                >
                  Remove
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
