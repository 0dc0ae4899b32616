import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Builds the studio renderer. `base: './'` keeps every asset URL relative, so the same
 * bundle loads from the headless server (`/`) and from the desktop's custom app scheme.
 */
export default defineConfig({
  root,
  base: './',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/renderer', import.meta.url)),
    emptyOutDir: true,
    // Electron's Chromium and any current browser: no legacy transpilation needed.
    target: 'es2022',
    sourcemap: true,
  },
});
