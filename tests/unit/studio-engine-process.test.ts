/**
 * The engine process as the studio runs it: the provider preference stored in the data home, the
 * environment's `PINHOLE_EP` winning over it, the engine asked once per process for its provider, and a
 * restart (refused while a GPU job runs) that launches the next process with the new preference.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EngineChannel } from '../../src-main/engine';
import type { ChildMessage, EngineInfo, ParentMessage } from '../../src-main/engine/host/protocol';
import { openDataHome } from '../../src-main/platform/data-home';
import { openDatabase } from '../../src-main/storage/database';
import { SettingsStore } from '../../src-main/storage/settings-store';
import { EngineProcess } from '../../src-main/studio/engine-process';
import { makeTempDir } from '../helpers/temp-dir';

const tmp = makeTempDir('pinhole-engine-process-');
afterAll(() => tmp.cleanup());

/** A launcher whose fake engine answers `info` with the provider its environment forces (else `cpu`, probed). */
function fakeLauncher() {
  const launches: NodeJS.ProcessEnv[] = [];
  const infoRequests: number[] = [];
  const launcher = (env: NodeJS.ProcessEnv) => (): EngineChannel => {
    launches.push(env);
    const index = launches.length;
    let listener: (m: ChildMessage) => void = () => {};
    const exits: ((code: number | null, signal: string | null) => void)[] = [];
    const forced = env['PINHOLE_EP'];
    return {
      pid: 1000 + index,
      send: (message: ParentMessage) => {
        if (message.type === 'shutdown') {
          queueMicrotask(() => exits.forEach((e) => e(0, null)));
          return;
        }
        if (message.type !== 'info') return;
        infoRequests.push(index);
        const info: EngineInfo = {
          pid: 1000 + index,
          protocol: 1,
          versions: {},
          provider: {
            provider: (forced ?? 'cpu') as 'cpu',
            forced: forced !== undefined,
            platform: 'linux',
            attempts: forced
              ? [{ provider: forced as 'cpu', ok: true, millis: 1 }]
              : [
                  {
                    provider: 'cuda',
                    ok: false,
                    reason: 'libonnxruntime_providers_cuda.so is not installed',
                    millis: 1,
                  },
                  { provider: 'cpu', ok: true, millis: 1 },
                ],
          },
        };
        queueMicrotask(() => listener({ type: 'info', id: message.id, info }));
      },
      onMessage: (l) => {
        listener = l;
      },
      onExit: (l) => {
        exits.push(l);
      },
      kill: () => exits.forEach((e) => e(null, 'SIGKILL')),
    };
  };
  return { launcher, launches, infoRequests };
}

function setup(env: NodeJS.ProcessEnv) {
  const root = path.join(tmp.dir, `home-${Math.random().toString(16).slice(2)}`);
  const home = openDataHome(root);
  const db = openDatabase(home.database);
  const settings = new SettingsStore(db);
  const fake = fakeLauncher();
  const engine = new EngineProcess({ home, settings, launcher: fake.launcher, env });
  return { db, settings, engine, ...fake };
}

describe('the studio engine process', () => {
  it('probes by default and says why providers were skipped, asking the engine once', async () => {
    const { engine, launches, infoRequests, db } = setup({});
    const info = await engine.engineInfo();
    expect(info).toMatchObject({ provider: 'cpu', forced: false, source: 'probe', weightPrecision: 'float32' });
    expect(info.attempts[0]).toEqual({
      provider: 'cuda',
      ok: false,
      reason: 'libonnxruntime_providers_cuda.so is not installed',
    });
    await engine.engineInfo();
    expect(infoRequests).toEqual([1]);
    expect(launches[0]!['PINHOLE_EP']).toBeUndefined();
    expect(launches[0]!['PINHOLE_ENGINE_CACHE']).toMatch(/cache[/\\]engine$/);
    await engine.dispose();
    db.close();
  });

  it('launches on the stored provider, and restarts on a new one unless a GPU job runs', async () => {
    const { engine, settings, launches, db } = setup({});
    settings.update({ executionProvider: 'webgpu' });
    expect(await engine.engineInfo()).toMatchObject({
      provider: 'webgpu',
      source: 'setting',
      weightPrecision: 'float16',
    });
    expect(launches[0]!['PINHOLE_EP']).toBe('webgpu');

    settings.update({ executionProvider: 'cpu' });
    await expect(engine.restart(true)).rejects.toMatchObject({ code: 'CONFLICT' });
    // Refused: the running engine is untouched.
    expect(await engine.engineInfo()).toMatchObject({ provider: 'webgpu' });
    expect(launches).toHaveLength(1);

    await engine.restart(false);
    expect(await engine.engineInfo()).toMatchObject({ provider: 'cpu', source: 'setting', forced: true });
    expect(launches.map((e) => e['PINHOLE_EP'])).toEqual(['webgpu', 'cpu']);
    await engine.dispose();
    db.close();
  });

  it('lets PINHOLE_EP in the environment win over the stored preference', async () => {
    const { engine, settings, launches, db } = setup({ PINHOLE_EP: 'cpu' });
    settings.update({ executionProvider: 'webgpu' });
    expect(await engine.engineInfo()).toMatchObject({ provider: 'cpu', source: 'environment' });
    expect(launches[0]!['PINHOLE_EP']).toBe('cpu');
    await engine.dispose();
    db.close();
  });

  it('reads a stored value it does not understand as the default', () => {
    const { settings, db } = setup({});
    expect(settings.read()).toEqual({ executionProvider: 'auto' });
    db.prepare("INSERT INTO settings (key, value) VALUES ('executionProvider', '\"tpu\"')").run();
    expect(settings.read()).toEqual({ executionProvider: 'auto' });
    db.prepare("UPDATE settings SET value = '{not json' WHERE key = 'executionProvider'").run();
    expect(settings.read()).toEqual({ executionProvider: 'auto' });
    expect(settings.update({ executionProvider: 'cpu' })).toEqual({ executionProvider: 'cpu' });
    db.close();
  });
});
