import { describe, expect, it, vi } from 'vitest';
import { decideUpdates, startUpdater, type UpdaterDeps, type UpdaterLike } from '../../src-main/app/updater';

function fakeUpdater() {
  const updater = {
    autoDownload: true,
    logger: null as unknown,
    setFeedURL: vi.fn(),
    checkForUpdates: vi.fn(async () => null),
    on: vi.fn(),
  } satisfies UpdaterLike;
  return updater;
}

const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };

function deps(overrides: Partial<UpdaterDeps> = {}, updater = fakeUpdater()) {
  const loadAutoUpdater = vi.fn(async () => updater);
  return {
    updater,
    loadAutoUpdater,
    deps: {
      loadAutoUpdater,
      env: {},
      isPackaged: true,
      hasPublishConfig: () => true,
      log,
      ...overrides,
    } as UpdaterDeps,
  };
}

describe('startUpdater', () => {
  it.each([
    ['not packaged (dev and tests)', { isPackaged: false, env: { PINHOLE_UPDATE_URL: 'https://updates.example/' } }],
    [
      'PINHOLE_DISABLE_UPDATES=1',
      { env: { PINHOLE_DISABLE_UPDATES: '1', PINHOLE_UPDATE_URL: 'https://updates.example/' } },
    ],
    ['no feed configured', { hasPublishConfig: () => false }],
    ['a non-https feed', { env: { PINHOLE_UPDATE_URL: 'http://updates.example/' } }],
    ['a feed that is not a URL', { env: { PINHOLE_UPDATE_URL: 'updates' } }],
  ])('does nothing at all when %s', async (_label, overrides) => {
    const { deps: d, loadAutoUpdater, updater } = deps(overrides);
    const decision = await startUpdater(d);
    expect(decision.enabled).toBe(false);
    // Never even loaded, so no network call can happen.
    expect(loadAutoUpdater).not.toHaveBeenCalled();
    expect(updater.checkForUpdates).not.toHaveBeenCalled();
  });

  it('checks the built-in feed without downloading', async () => {
    const { deps: d, updater } = deps();
    await expect(startUpdater(d)).resolves.toEqual({ enabled: true, feedUrl: null });
    expect(updater.autoDownload).toBe(false);
    expect(updater.setFeedURL).not.toHaveBeenCalled();
    expect(updater.checkForUpdates).toHaveBeenCalledOnce();
  });

  it('lets PINHOLE_UPDATE_URL override the feed', async () => {
    const { deps: d, updater } = deps({
      env: { PINHOLE_UPDATE_URL: ' https://updates.example/pinhole/ ' },
      hasPublishConfig: () => false,
    });
    await startUpdater(d);
    expect(updater.setFeedURL).toHaveBeenCalledWith({ provider: 'generic', url: 'https://updates.example/pinhole/' });
    expect(updater.checkForUpdates).toHaveBeenCalledOnce();
  });

  it('logs a failed check instead of throwing', async () => {
    const updater = fakeUpdater();
    updater.checkForUpdates.mockRejectedValue(new Error('offline'));
    const { deps: d } = deps({}, updater);
    await expect(startUpdater(d)).resolves.toMatchObject({ enabled: true });
    expect(log.warn).toHaveBeenCalledWith('[updater] check failed', expect.any(Error));
  });

  it('logs what the check found', async () => {
    const { deps: d, updater } = deps();
    await startUpdater(d);
    const listeners = new Map(updater.on.mock.calls.map(([name, listener]) => [name, listener]));
    listeners.get('update-available')!({ version: '9.9.9' });
    expect(log.info).toHaveBeenCalledWith('[updater] update available: 9.9.9');
  });

  it('allows plain http only to this machine (for testing a feed)', () => {
    const base = { isPackaged: true, hasPublishConfig: () => false };
    expect(decideUpdates({ ...base, env: { PINHOLE_UPDATE_URL: 'http://localhost:8080/' } })).toMatchObject({
      enabled: true,
    });
    expect(decideUpdates({ ...base, env: { PINHOLE_UPDATE_URL: 'ftp://localhost/' } })).toMatchObject({
      enabled: false,
    });
  });
});
