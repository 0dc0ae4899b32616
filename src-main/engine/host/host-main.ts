/**
 * The engine process's entry (bundled as `dist/main/engine/host.js`). Started by `EngineClient` as a forked
 * Node child in headless mode, or by Electron's `utilityProcess.fork` in the app: both give the process a
 * message channel — `process.send`/`process.on('message')` for a fork, `process.parentPort` for a utility
 * process — and nothing else differs. A native crash here ends this process only; the parent reports it.
 */
import { Engine } from '../pipelines';
import { EngineHost, type HostTransport } from './engine-host';
import type { ChildMessage } from './protocol';

/** Electron's `process.parentPort` in a utility process (typed here: the engine never imports electron). */
interface ParentPortLike {
  on(event: 'message', listener: (event: { data: unknown }) => void): void;
  postMessage(message: unknown): void;
}

/** The channel to the parent, and a way to start listening once the host exists. */
interface Connection {
  readonly transport: HostTransport;
  readonly listen: (onMessage: (message: unknown) => void, onDisconnect: () => void) => void;
}

function connect(): Connection {
  const parentPort = (process as unknown as { parentPort?: ParentPortLike }).parentPort;
  if (parentPort) {
    return {
      transport: { send: (message: ChildMessage) => parentPort.postMessage(message) },
      listen: (onMessage) => parentPort.on('message', (event) => onMessage(event.data)),
    };
  }
  if (!process.send) {
    process.stderr.write('pinhole engine: no parent channel (start this file with fork or utilityProcess)\n');
    process.exit(2);
  }
  return {
    transport: { send: (message: ChildMessage) => void process.send?.(message) },
    listen: (onMessage, onDisconnect) => {
      process.on('message', onMessage);
      // The parent is gone: nobody can receive results, so stop rather than linger.
      process.on('disconnect', onDisconnect);
    },
  };
}

const engine = new Engine();

/**
 * Exits without releasing sessions one by one: a run may still be queued on the native side, and the OS frees
 * everything (device memory included) with the process anyway.
 */
function shutdown(code: number): void {
  setImmediate(() => process.exit(code));
}

const { transport, listen } = connect();
const host = new EngineHost(engine, transport);
listen(
  (message) => {
    host.handle(message);
    if ((message as { type?: unknown })?.type === 'shutdown') shutdown(0);
  },
  () => shutdown(0),
);
host.ready();
