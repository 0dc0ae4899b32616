/**
 * The headless event stream: one WebSocket, one JSON `EventMessage` per frame, reconnected
 * with exponential backoff (plus jitter, so many tabs don't hammer a restarting server in step).
 */
import type { EventMessage } from '../../../src-shared/api/contract';
import { parseEvent } from '../../../src-shared/api/dispatch';
import type { ConnectionStatus } from './studio-client';

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;

/** What the socket reports to its owner. */
export type EventSocketHandlers = {
  onEvent(message: EventMessage): void;
  onStatus(status: ConnectionStatus): void;
};

/** A self-healing WebSocket subscription to `/api/events`. */
export class EventSocket {
  private socket: WebSocket | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private closed = false;
  private current: ConnectionStatus = 'connecting';

  constructor(
    private readonly url: string,
    private readonly handlers: EventSocketHandlers,
  ) {
    this.connect();
    // Coming back online should not wait out a long backoff.
    window.addEventListener('online', this.retryNow);
  }

  /** The current status. */
  get status(): ConnectionStatus {
    return this.current;
  }

  /** Closes the socket and stops reconnecting. */
  close(): void {
    this.closed = true;
    window.removeEventListener('online', this.retryNow);
    if (this.timer) clearTimeout(this.timer);
    this.socket?.close();
  }

  private readonly retryNow = (): void => {
    if (this.closed || this.current === 'open') return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  };

  private setStatus(status: ConnectionStatus): void {
    this.current = status;
    this.handlers.onStatus(status);
  }

  private connect(): void {
    if (this.closed) return;
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.setStatus('open');
    };
    socket.onmessage = (frame) => {
      if (typeof frame.data !== 'string') return;
      let raw: unknown;
      try {
        raw = JSON.parse(frame.data);
      } catch {
        return; // A malformed frame is the server's bug; dropping it keeps the stream alive.
      }
      const message = parseEvent(raw);
      if (message) this.handlers.onEvent(message);
    };
    socket.onclose = () => {
      if (this.socket !== socket || this.closed) return;
      this.socket = null;
      this.setStatus('reconnecting');
      this.scheduleReconnect();
    };
    // `error` is always followed by `close`, which does the reconnecting.
    socket.onerror = () => undefined;
  }

  private scheduleReconnect(): void {
    const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base / 2 + Math.random() * (base / 2);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }
}
