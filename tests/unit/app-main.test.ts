import { expect, it, vi } from 'vitest';
import type * as Lifecycle from '../../src-main/app/lifecycle';

const fakes = vi.hoisted(() => ({ runApp: vi.fn(), createStudio: vi.fn() }));

vi.mock('../../src-main/studio', () => ({ createStudio: fakes.createStudio }));
vi.mock('../../src-main/app/lifecycle', async (importOriginal) => ({
  ...(await importOriginal<typeof Lifecycle>()),
  runApp: fakes.runApp,
}));
vi.mock('electron', () => ({}));

it('the entry runs the app with the real studio and the build paths', async () => {
  await import('../../src-main/app/main');
  expect(fakes.runApp).toHaveBeenCalledOnce();
  const [{ createStudio, paths }] = fakes.runApp.mock.calls[0] as [
    { createStudio: unknown; paths: Record<string, string> },
  ];
  expect(createStudio).toBe(fakes.createStudio);
  expect(paths['preloadPath']).toMatch(/[/\\]preload\.cjs$/);
  expect(paths['rendererDir']).toMatch(/[/\\]renderer$/);
});
