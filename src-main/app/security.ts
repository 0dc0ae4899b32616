/**
 * The renderer's security policy: the CSP every app response carries, the one origin
 * allowed to talk to main, and the session-wide rules (CSP header hook, no permissions).
 */
import type { Session } from 'electron';
import { APP_SCHEME, MEDIA_SCHEME } from '../../src-shared/api/bridge';

/** The host of every renderer URL: `pinhole-app://app/...`. */
export const APP_HOST = 'app';
/** The renderer's origin, as a string prefix of its URLs. */
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
/** What the window loads first. */
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`;

/**
 * The strict Content-Security-Policy of the renderer. No remote code, no inline scripts,
 * no frames, no forms; images only from the app itself, the media protocol, data: and blob:.
 * Inline styles stay allowed because React sets `style` attributes.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  `img-src 'self' ${MEDIA_SCHEME}: data: blob:`,
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

/** Headers every response of our protocols carries. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** True for URLs on exactly our renderer origin (no credentials, no port, no other host). */
export function isAppUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  return (
    parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST && parsed.username === '' && parsed.password === ''
  );
}

/**
 * Whether an IPC message comes from our own renderer. Electron delivers IPC from any frame
 * of the window (and senderFrame is null once the frame navigated away), so main checks
 * the frame's URL instead of trusting the channel.
 */
export function isTrustedSender(frame: { readonly url: string } | null | undefined): boolean {
  return frame != null && typeof frame.url === 'string' && isAppUrl(frame.url);
}

/**
 * Session-wide belt and braces: adds the CSP header to every response the session sees
 * (our protocol handlers already set it) and refuses every permission request and check,
 * since the studio needs none (no camera, notifications, geolocation...). Idempotent:
 * each setter replaces the previous handler.
 */
export function hardenSession(session: Session): void {
  session.webRequest.onHeadersReceived((details, callback) => {
    const headers: Record<string, string[]> = {};
    for (const [name, value] of Object.entries(details.responseHeaders ?? {})) {
      // Drop any policy a response brought along: ours is the only one that applies.
      if (name.toLowerCase() !== 'content-security-policy') headers[name] = value;
    }
    headers['Content-Security-Policy'] = [CONTENT_SECURITY_POLICY];
    callback({ responseHeaders: headers });
  });
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
}
