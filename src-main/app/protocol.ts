/**
 * The two custom protocols of the desktop app:
 *   - `pinhole-app://app/...` serves the built renderer from dist/renderer (never file://,
 *     so the renderer gets a real origin, a CSP header and no access to the filesystem);
 *   - `pinhole-media://images|thumbs|inputs/<sha256>` serves library media and kept init images by
 *     content hash only; `pinhole-media://training/<job id>/<sample-i | checkpoint-step>` a training
 *     run's samples, resolved from the job's recorded artifacts (no path ever travels in a URL).
 * URL → file resolution is pure (and unit-tested); the Electron glue below it is thin.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { net, protocol } from 'electron';
import { APP_SCHEME, MEDIA_SCHEME } from '../../src-shared/api/bridge';
import { SECURITY_HEADERS } from './security';

/** What the media protocol needs from the studio. */
type MediaFile = { path: string; contentType: string };
export type MediaSource = {
  mediaFile(kind: 'images' | 'thumbs' | 'inputs', sha256: string): MediaFile | null;
  trainingMedia(jobId: string, name: string): MediaFile | null;
};

const APP_URL = new RegExp(`^${APP_SCHEME}://app(/[^?#]*)?(?:[?#].*)?$`, 'i');
const MEDIA_URL = new RegExp(`^${MEDIA_SCHEME}://(images|thumbs|inputs)/([0-9a-f]{64})$`);
const TRAINING_URL = new RegExp(
  `^${MEDIA_SCHEME}://training/([A-Za-z0-9_-]{1,64})/((?:sample|checkpoint)-[0-9]{1,9})$`,
);

/**
 * Maps a `pinhole-app://app/<path>` request to a file inside `rendererDir`, or null.
 * Refuses anything that could leave the folder: `.`/`..` segments (plain or percent-encoded),
 * dot-files, backslashes, drive letters, NUL, empty segments (`//etc`) and encoded slashes
 * that decode into any of those. Client-side routes (a last segment without a dot) get index.html.
 */
export function resolveAppAsset(rendererDir: string, requestUrl: string): string | null {
  const match = APP_URL.exec(requestUrl);
  if (!match) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(match[1] ?? '/');
  } catch {
    return null; // malformed percent-encoding
  }
  if (/[\\\0:]/.test(decoded) || decoded.includes('//')) return null;
  const segments = decoded.split('/').filter((segment) => segment !== '');
  if (segments.some((segment) => segment.startsWith('.'))) return null;

  const last = segments.at(-1);
  const relative = last === undefined || !last.includes('.') ? ['index.html'] : segments;
  const root = path.resolve(rendererDir);
  const file = path.resolve(root, ...relative);
  // Belt and braces: whatever the checks above missed, never answer outside the folder.
  return file.startsWith(root + path.sep) ? file : null;
}

/** Maps a content-addressed media URL to the studio's file, or null. */
export function resolveMedia(studio: MediaSource, requestUrl: string): MediaFile | null {
  const match = MEDIA_URL.exec(requestUrl);
  if (!match) return null;
  return studio.mediaFile(match[1] as 'images' | 'thumbs' | 'inputs', match[2] as string);
}

/** Maps `pinhole-media://training/<job>/<sample-i | checkpoint-step>` to the run's file, or null. */
export function resolveTrainingMedia(studio: MediaSource, requestUrl: string): MediaFile | null {
  const match = TRAINING_URL.exec(requestUrl);
  if (!match) return null;
  return studio.trainingMedia(match[1] as string, match[2] as string);
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

/** Content type of a renderer asset by extension (module scripts need an exact JS type). */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Privileges for both schemes; must run before `app.whenReady()`. `standard` gives the renderer
 * a real origin (so 'self', storage and URL parsing work), `secure` makes it a secure context,
 * `supportFetchAPI` lets it fetch its own assets. Neither scheme bypasses CSP.
 */
export function registerPrivilegedSchemes(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
    { scheme: MEDIA_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } },
  ]);
}

function plain(status: number, text: string): Response {
  return new Response(text, { status, headers: { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' } });
}

/** Streams a file via net.fetch, replacing its headers with ours; 404 when it cannot be read. */
async function serveFile(file: string, contentType: string, extra: Record<string, string> = {}): Promise<Response> {
  try {
    const response = await net.fetch(pathToFileURL(file).toString());
    if (!response.ok) return plain(404, 'Not found');
    return new Response(response.body, {
      status: 200,
      headers: { ...SECURITY_HEADERS, 'Content-Type': contentType, ...extra },
    });
  } catch {
    return plain(404, 'Not found');
  }
}

/** Installs both protocol handlers on the default session; call once the app is ready. */
export function handleProtocols(options: { rendererDir: string; studio: MediaSource }): void {
  protocol.handle(APP_SCHEME, (request) => {
    if (request.method !== 'GET') return plain(405, 'Method not allowed');
    const file = resolveAppAsset(options.rendererDir, request.url);
    return file ? serveFile(file, contentTypeOf(file)) : plain(404, 'Not found');
  });
  protocol.handle(MEDIA_SCHEME, (request) => {
    if (request.method !== 'GET') return plain(405, 'Method not allowed');
    const training = resolveTrainingMedia(options.studio, request.url);
    // A resumed run rewrites its samples and checkpoints in place: no long-lived caching.
    if (training) return serveFile(training.path, training.contentType, { 'Cache-Control': 'private, no-cache' });
    const media = resolveMedia(options.studio, request.url);
    // Content-addressed: a URL's bytes never change, so the renderer may cache them forever.
    return media
      ? serveFile(media.path, media.contentType, { 'Cache-Control': 'private, max-age=31536000, immutable' })
      : plain(404, 'Not found');
  });
}
