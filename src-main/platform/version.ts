import { readFileSync } from 'node:fs';

/** The app version from package.json, read once (the bundle keeps package.json beside dist/). */
export function readAppVersion(packageJsonUrl: URL): string {
  try {
    return (JSON.parse(readFileSync(packageJsonUrl, 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
