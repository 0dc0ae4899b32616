/**
 * In the desktop app the engine runs in an Electron utility process (not a worker thread:
 * a native crash in onnxruntime must not take the window down). Same entry as headless
 * mode's forked child; only the channel differs.
 */
import { utilityProcess } from 'electron';
import type { EngineChannel, EngineLauncher } from '../engine';

type ChildMessage = Parameters<Parameters<EngineChannel['onMessage']>[0]>[0];

export function utilityProcessLauncher(entry: string, env: NodeJS.ProcessEnv): EngineLauncher {
  return (): EngineChannel => {
    const child = utilityProcess.fork(entry, [], { serviceName: 'Pinhole Studio Engine', stdio: 'inherit', env });
    let exited = false;
    const exitListeners: ((code: number | null, signal: string | null) => void)[] = [];
    child.once('exit', (code) => {
      exited = true;
      for (const listener of exitListeners) listener(code, null);
    });
    return {
      get pid() {
        return child.pid;
      },
      send: (message) => {
        if (!exited) child.postMessage(message);
      },
      onMessage: (listener) => child.on('message', (message) => listener(message as ChildMessage)),
      onExit: (listener) => {
        exitListeners.push(listener);
      },
      kill: () => {
        child.kill();
      },
    };
  };
}
