/** Says when the live connection to the core is down; silent while it is fine. */
import { useConnectionStore } from '../state/connection-store';

/** The banner. */
export function ConnectionBanner() {
  const status = useConnectionStore((s) => s.status);
  if (status === 'open') return null;
  return (
    <div className="banner" role="status" data-testid="connection-banner" data-status={status}>
      {status === 'connecting'
        ? 'Connecting to the studio…'
        : 'Lost the connection to the studio. Reconnecting — what you see may be out of date.'}
    </div>
  );
}
