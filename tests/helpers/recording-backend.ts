/**
 * An onnxruntime-node backend that records what every run of a model file was fed, so engine tests can assert
 * what reached a model (the UNet's batch, LCM's `timestep_cond`, how many UNet calls a sampler makes) without
 * reaching into the pipeline.
 */
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';
import type { HostTensor, InferenceBackend } from '../../src-main/engine/runtime';

/** A fed tensor: a copy of a host feed, or only the type and dims of one already on the device. */
export type RecordedFeed = Pick<HostTensor, 'type' | 'dims'> & { readonly data?: HostTensor['data'] };

/** One run: the model file and every feed. */
export type RecordedRun = {
  readonly file: string;
  readonly feeds: Readonly<Record<string, RecordedFeed>>;
};

/** The backend and the runs it saw, in order (provider probes, which load bytes, are not recorded). */
export function recordingBackend(): { backend: InferenceBackend; runs: RecordedRun[]; clear: () => void } {
  const ort = createOrtBackend();
  const runs: RecordedRun[] = [];
  const backend: InferenceBackend = {
    listProviders: () => ort.listProviders(),
    createSession: async (model, options) => {
      const raw = await ort.createSession(model, options);
      if (typeof model !== 'string') return raw;
      return {
        inputs: raw.inputs,
        outputs: raw.outputs,
        run: (feeds, fetches, deviceFeeds) => {
          const copy: Record<string, RecordedFeed> = {};
          for (const [name, tensor] of Object.entries(feeds)) {
            copy[name] = { type: tensor.type, dims: [...tensor.dims], data: tensor.data.slice() };
          }
          for (const [name, tensor] of Object.entries(deviceFeeds ?? {})) {
            copy[name] = { type: tensor.type, dims: [...tensor.dims] };
          }
          runs.push({ file: model, feeds: copy });
          return raw.run(feeds, fetches, deviceFeeds);
        },
        release: () => raw.release(),
      };
    },
  };
  return { backend, runs, clear: () => void runs.splice(0) };
}
