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
  type EngineTrainOptions,
  type ForkOptions,
} from './engine-client';
export { EngineHost, type HostTransport, type TrainRunner } from './engine-host';
export {
  ENGINE_PROTOCOL_VERSION,
  fromWireImage,
  fromWireRequest,
  fromWireTrainRequest,
  toWireImage,
  toWireRequest,
  toWireTrainRequest,
  type ChildMessage,
  type EngineInfo,
  type OutputMode,
  type ParentMessage,
  type WireGenerateRequest,
  type WireGenerateResult,
  type WireImage,
  type WireImageResult,
  type WireTrainRequest,
} from './protocol';
