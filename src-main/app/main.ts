/**
 * Electron entry, bundled to dist/main/app/main.js (ESM). Everything lives in lifecycle.ts;
 * this file only binds the real studio and the build's paths.
 */
import { createStudio } from '../studio';
import { builtPaths, runApp } from './lifecycle';

runApp({ createStudio, paths: builtPaths(import.meta.url) });
