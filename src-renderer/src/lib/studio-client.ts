/**
 * The renderer's view of the core: the contract's `PinholeClient` plus the state of the
 * event stream, because every (re)connect must re-fetch what may have changed meanwhile.
 */
import type { PinholeClient } from '../../../src-shared/api/contract';

/** `open`: events are flowing. `connecting`: first attempt. `reconnecting`: lost, retrying. */
export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting';

/** A `PinholeClient` that also reports whether its event stream is live. */
export interface StudioClient extends PinholeClient {
  /** Current event-stream status. */
  readonly status: ConnectionStatus;
  /**
   * Called on every status change (the first `open` and every reconnect included); returns the
   * unsubscribe. A client that is `open` before anyone subscribes reports nothing: check `status`.
   */
  onStatus(listener: (status: ConnectionStatus) => void): () => void;
  /** Stops the event stream for good. */
  close(): void;
}
