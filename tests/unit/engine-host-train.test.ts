/**
 * Training over the engine process protocol, without a process: the request's 64-bit seeds on the
 * wire, the host running a train request and sending each event then the result, and the client
 * handing events to `onEvent` and forwarding a cancel.
 */
import { describe, expect, it } from 'vitest';
import {
  EngineClient,
  EngineHost,
  fromWireTrainRequest,
  toWireTrainRequest,
  type ChildMessage,
  type EngineChannel,
  type ParentMessage,
} from '../../src-main/engine/host';
import type { Engine } from '../../src-main/engine/pipelines';
import type { TrainEvent, TrainRequest, TrainResult } from '../../src-main/engine/training';

const request: TrainRequest = {
  model: '/m',
  items: [{ file: '/a.png', caption: 'a dog' }],
  out: '/o.safetensors',
  rank: 4,
  steps: 2,
  batch: 1,
  lr: 1e-4,
  optimizer: 'adamw',
  weightDecay: 0.01,
  maxGradNorm: 1,
  seed: 18446744073709551615n,
  sampleSeed: 18446744073709551614n,
  resolution: 512,
  shuffle: true,
  repeats: 1,
  flip: false,
  captionDropout: 0,
  noiseOffset: 0,
  lrSchedule: 'constant',
  warmupSteps: 0,
  buckets: true,
  textEncoder: false,
  savePrecision: 'fp16',
  gradientCheckpointing: false,
  baseWeights: 'auto',
};

const events: TrainEvent[] = [
  { kind: 'caching', done: 1, total: 2 },
  { kind: 'step', step: 1, totalSteps: 2, loss: 0.5, lr: 1e-4, gradNorm: 0.1, elapsedMs: 3 },
  { kind: 'sample', step: 1, index: 0, prompt: 'p', file: '/s.png' },
  { kind: 'checkpoint', step: 1, file: '/c.safetensors', validationLoss: 0.25 },
];

const result: TrainResult = {
  file: '/o.safetensors',
  steps: 2,
  losses: [0.5, 0.4],
  lrs: [1e-4, 1e-4],
  rank: 4,
  alpha: 4,
  modules: 10,
  datasetSize: 1,
  timings: { totalMs: 10, msPerStep: 5, cachingMs: 1 },
  checkpoints: [{ step: 1, file: '/c.safetensors', validationLoss: 0.25 }],
  bestStep: 1,
  samples: [{ step: 1, index: 0, prompt: 'p', file: '/s.png' }],
};

describe('training on the wire', () => {
  it('round-trips a request with 64-bit seeds', () => {
    const wire = JSON.parse(JSON.stringify(toWireTrainRequest(request))) as ReturnType<typeof toWireTrainRequest>;
    expect(wire.seed).toBe('18446744073709551615');
    expect(wire.sampleSeed).toBe('18446744073709551614');
    expect(fromWireTrainRequest(wire)).toEqual(request);
    expect(() => fromWireTrainRequest({ ...wire, sampleSeed: '1.5' })).toThrow(/sampleSeed/);
  });

  it('the host frees idle generation sessions, sends each event, then the result', async () => {
    const sent: ChildMessage[] = [];
    let seen: TrainRequest | undefined;
    let released = 0;
    const engine = { releaseMemory: async () => released++ } as unknown as Engine;
    const host = new EngineHost(engine, { send: (m) => sent.push(m) }, async (req, options) => {
      expect(released).toBe(1);
      seen = req;
      for (const e of events) options.onEvent?.(e);
      return result;
    });
    host.handle({ type: 'train', id: 't1', request: toWireTrainRequest(request) });
    await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual(request);
    expect(sent).toEqual([
      ...events.map((event) => ({ type: 'train-event', id: 't1', event })),
      { type: 'train-result', id: 't1', result },
    ]);
  });

  it('the client hands events to onEvent and forwards a cancel', async () => {
    const sent: ParentMessage[] = [];
    let onMessage: (m: ChildMessage) => void = () => {};
    const channel: EngineChannel = {
      pid: 1,
      send: (message) => {
        sent.push(message);
        if (message.type !== 'train') return;
        queueMicrotask(() => {
          for (const event of events) onMessage({ type: 'train-event', id: message.id, event });
          onMessage({ type: 'train-result', id: message.id, result });
        });
      },
      onMessage: (listener) => {
        onMessage = listener;
      },
      onExit: () => {},
      kill: () => {},
    };
    const client = new EngineClient({ launcher: () => channel });
    const got: TrainEvent[] = [];
    const controller = new AbortController();
    const promise = client.train(request, { signal: controller.signal, onEvent: (e) => got.push(e) });
    controller.abort();
    expect(await promise).toEqual(result);
    expect(got).toEqual(events);
    expect(sent.map((m) => m.type)).toEqual(['train', 'cancel']);
  });
});
