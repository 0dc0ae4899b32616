/**
 * The engine process: `host-main.ts` is the child's entry (bundled as `dist/main/engine/host.js`), and
 * `EngineClient` is the parent's handle on it. `session.run` holds its thread and a native crash would take a
 * whole process down, so inference never runs in the app's main process.
 */
export {
  defaultHostEntry,
  EngineClient,
  EngineCrashedError,
  forkLauncher,
  type EngineChannel,
  type EngineClientOptions,
  type EngineGenerateOptions,
  type EngineGenerateResult,
  type EngineImage,
  type EngineLauncher,
  type ForkOptions,
} from './engine-client';
export { EngineHost, type HostTransport } from './engine-host';
export {
  ENGINE_PROTOCOL_VERSION,
  fromWireImage,
  fromWireRequest,
  toWireImage,
  toWireRequest,
  type ChildMessage,
  type EngineInfo,
  type OutputMode,
  type ParentMessage,
  type WireGenerateRequest,
  type WireGenerateResult,
  type WireImage,
  type WireImageResult,
} from './protocol';
