import { EventEmitter } from 'node:events';
import { expect, it, vi } from 'vitest';

const fakes = vi.hoisted(() => ({ fork: vi.fn() }));
vi.mock('electron', () => ({ utilityProcess: { fork: fakes.fork } }));

import { utilityProcessLauncher } from '../../src-main/app/engine-launcher';

class FakeUtilityProcess extends EventEmitter {
  pid = 4242;
  sent: unknown[] = [];
  killed = false;
  postMessage(message: unknown) {
    this.sent.push(message);
  }
  kill() {
    this.killed = true;
    return true;
  }
}

it('starts the engine host in a utility process and carries messages both ways', () => {
  const child = new FakeUtilityProcess();
  fakes.fork.mockReturnValue(child);
  const channel = utilityProcessLauncher('/app/dist/main/engine/host.js', {
    PINHOLE_ENGINE_CACHE: '/data/cache/engine',
  })();
  expect(fakes.fork).toHaveBeenCalledWith(
    '/app/dist/main/engine/host.js',
    [],
    expect.objectContaining({ stdio: 'inherit', env: { PINHOLE_ENGINE_CACHE: '/data/cache/engine' } }),
  );
  expect(channel.pid).toBe(4242);

  const received: unknown[] = [];
  channel.onMessage((m) => received.push(m));
  child.emit('message', { type: 'ready' });
  expect(received).toEqual([{ type: 'ready' }]);
  channel.send({ type: 'shutdown' });
  expect(child.sent).toEqual([{ type: 'shutdown' }]);

  const exits: unknown[] = [];
  channel.onExit((code, signal) => exits.push([code, signal]));
  child.emit('exit', 139);
  expect(exits).toEqual([[139, null]]);
  // Nothing is posted to a process that has gone.
  channel.send({ type: 'shutdown' });
  expect(child.sent).toHaveLength(1);
  channel.kill();
  expect(child.killed).toBe(true);
});
