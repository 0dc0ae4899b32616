/**
 * The event stream's health. `epoch` counts successful (re)connects: every cache keyed on it
 * re-fetches after a reconnect, because events sent while disconnected are lost.
 */
import { create } from 'zustand';
import type { ConnectionStatus } from '../lib/studio-client';

/** Connection slice. */
export type ConnectionState = {
  status: ConnectionStatus;
  /** 0 before the first connect; +1 on every `open`. */
  epoch: number;
};

/** The connection slice; written only by `startSync`. */
export const useConnectionStore = create<ConnectionState>(() => ({ status: 'connecting', epoch: 0 }));

/** Records a status change, bumping the epoch on every successful connect. */
export function setConnectionStatus(status: ConnectionStatus): void {
  useConnectionStore.setState((s) => ({ status, epoch: status === 'open' ? s.epoch + 1 : s.epoch }));
}
