/** The engine process protocol and client without a process: wire conversions, correlation, crash handling. */
import { describe, expect, it } from 'vitest';
import {
  EngineClient,
  EngineHost,
  fromWireRequest,
  toWireRequest,
  type ChildMessage,
  type EngineChannel,
  type ParentMessage,
} from '../../src-main/engine/host';
import type { Engine } from '../../src-main/engine/pipelines';

/** A channel whose "child" is a function of the messages it receives. */
function fakeChannel(respond: (message: ParentMessage, emit: (m: ChildMessage) => void) => void) {
  let onMessage: (m: ChildMessage) => void = () => {};
  const exits: ((code: number | null, signal: string | null) => void)[] = [];
  const sent: ParentMessage[] = [];
  const channel: EngineChannel = {
    pid: 1234,
    send: (message) => {
      sent.push(message);
      queueMicrotask(() => respond(message, (m) => onMessage(m)));
    },
    onMessage: (listener) => {
      onMessage = listener;
    },
    onExit: (listener) => {
      exits.push(listener);
    },
    kill: () => exits.forEach((l) => l(null, 'SIGKILL')),
  };
  return { channel, sent, crash: (signal: string) => exits.forEach((l) => l(null, signal)) };
}

describe('wire format', () => {
  it('round-trips requests with 64-bit seeds and images', () => {
    const request = {
      model: '/m',
      prompt: 'p',
      seed: 18446744073709551615n,
      initImage: Uint8Array.of(1, 2, 3),
      maskImage: { data: Uint8Array.of(9, 9, 9), width: 1, height: 1 },
    };
    const wire = toWireRequest(request);
    expect(JSON.parse(JSON.stringify(wire))).toEqual(wire);
    expect(wire.seed).toBe('18446744073709551615');
    expect(fromWireRequest(JSON.parse(JSON.stringify(wire)))).toEqual(request);
    expect(fromWireRequest(toWireRequest({ ...request, initImage: '/a.png' })).initImage).toBe('/a.png');
    expect(() => fromWireRequest({ ...wire, seed: '1e3' })).toThrow(/seed/);
  });
});

describe('EngineClient', () => {
  it('correlates replies, routes progress, and rebuilds errors', async () => {
    const fake = fakeChannel((message, emit) => {
      if (message.type !== 'generate') return;
      if (message.request.prompt === 'bad') {
        emit({
          type: 'error',
          id: message.id,
          error: { name: 'PinholeError', code: 'INVALID_PARAMS', message: 'width: nope' },
        });
        return;
      }
      emit({
        type: 'progress',
        id: message.id,
        progress: { iteration: 0, batchCount: 1, step: 1, totalSteps: 1, timestep: 999 },
      });
      emit({
        type: 'result',
        id: message.id,
        result: {
          images: [
            {
              width: 1,
              height: 1,
              seed: message.request.seed,
              iteration: 0,
              batchIndex: 0,
              parameters: 'x',
              pngBase64: 'AQI=',
            },
          ],
          timesteps: [999],
          mode: 'txt2img',
          timings: { totalMs: 1, textMs: 0, denoiseMs: 1, decodeMs: 0, stepsPerSecond: 1 },
        },
      });
    });
    const client = new EngineClient({ launcher: () => fake.channel });
    const steps: number[] = [];
    const [a, b] = await Promise.all([
      client.generate({ model: 'm', prompt: 'a', seed: 5n }, { onProgress: (p) => steps.push(p.step) }),
      client.generate({ model: 'm', prompt: 'b', seed: 6n }),
    ]);
    expect([a.images[0]!.seed, b.images[0]!.seed]).toEqual([5n, 6n]);
    expect(Array.from(a.images[0]!.png!)).toEqual([1, 2]);
    expect(steps).toEqual([1]);
    await expect(client.generate({ model: 'm', prompt: 'bad', seed: 1n })).rejects.toMatchObject({
      code: 'INVALID_PARAMS',
      message: 'width: nope',
    });
  });

  it('forwards cancellation and fails in-flight calls when the process dies', async () => {
    let launches = 0;
    const fakes: ReturnType<typeof fakeChannel>[] = [];
    const client = new EngineClient({
      launcher: () => {
        launches++;
        const fake = fakeChannel((message, emit) => {
          if (message.type === 'cancel')
            emit({
              type: 'error',
              id: message.id,
              error: { name: 'CanceledError', code: 'CANCELED', message: 'Generation canceled' },
            });
        });
        fakes.push(fake);
        return fake.channel;
      },
    });
    const controller = new AbortController();
    const canceled = client.generate({ model: 'm', prompt: 'a', seed: 1n }, { signal: controller.signal });
    controller.abort();
    await expect(canceled).rejects.toMatchObject({ name: 'CanceledError', code: 'CANCELED' });
    expect(fakes[0]!.sent.map((m) => m.type)).toEqual(['generate', 'cancel']);

    const pending = client.generate({ model: 'm', prompt: 'a', seed: 1n });
    fakes[0]!.crash('SIGSEGV');
    await expect(pending).rejects.toMatchObject({
      name: 'EngineCrashedError',
      code: 'INTERRUPTED',
      message: expect.stringContaining('SIGSEGV'),
    });
    void client.generate({ model: 'm', prompt: 'a', seed: 1n }).catch(() => {});
    expect(launches).toBe(2);
  });
});

describe('EngineHost', () => {
  it('answers unknown messages and drops a waiting request on cancel', async () => {
    const sent: ChildMessage[] = [];
    let release: () => void = () => {};
    const engine = {
      generate: () => new Promise((_, reject) => (release = () => reject(new Error('stopped')))),
    } as unknown as Engine;
    const host = new EngineHost(engine, { send: (m) => sent.push(m) });
    host.handle({ type: 'bogus', id: 'x' });
    host.handle({
      type: 'generate',
      id: 'g1',
      request: { model: 'm', prompt: 'a', seed: '1' },
      output: { kind: 'inline' },
    });
    host.handle({
      type: 'generate',
      id: 'g2',
      request: { model: 'm', prompt: 'a', seed: '1' },
      output: { kind: 'inline' },
    });
    host.handle({ type: 'cancel', id: 'g2' });
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(sent.map((m) => [m.type, 'id' in m ? m.id : '', m.type === 'error' ? m.error.code : ''])).toEqual([
      ['error', 'x', 'UNKNOWN_METHOD'],
      ['error', 'g2', 'CANCELED'],
      ['error', 'g1', 'INTERNAL'],
    ]);
    expect(host.idle).toBe(true);
  });
});
