// One build for every runtime: esbuild bundles the main-process entries (CLI and Electron
// main as ESM, the sandboxed preload as CommonJS); Vite builds the renderer.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { build as viteBuild } from 'vite';

const root = new URL('..', import.meta.url).pathname;
rmSync(`${root}dist/main`, { recursive: true, force: true });

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  packages: 'external',
  logLevel: 'warning',
};

await Promise.all([
  build({
    ...common,
    format: 'esm',
    entryPoints: {
      'cli/main': 'src-main/cli/main.ts',
      'app/main': 'src-main/app/main.ts',
      // The engine's own process (a forked child headless, a utilityProcess in the app).
      'engine/host': 'src-main/engine/host/host-main.ts',
    },
    outdir: 'dist/main',
  }),
  build({
    ...common,
    format: 'cjs',
    entryPoints: ['src-main/app/preload.ts'],
    outfile: 'dist/main/app/preload.cjs',
    external: ['electron'],
  }),
]);
await viteBuild({ configFile: `${root}src-renderer/vite.config.ts`, logLevel: 'warn' });
console.log('built dist/main and dist/renderer');
