/**
 * Who may talk to the headless server. A web page in the user's browser must not be able
 * to drive it: on loopback, DNS rebinding (a foreign name resolving to 127.0.0.1) is
 * stopped by the Host check, and CSRF (a foreign page posting to us) by the Origin check;
 * `Origin: null` (sandboxed frames, file pages) is foreign too. Off loopback, every request
 * needs the access token. This is what ComfyUI lacked in CVE-2024-10481.
 */
import { timingSafeEqual } from 'node:crypto';

export type GuardPolicy = {
  /** The port the server listens on (Origin must name it). */
  port: number;
  /** The access token, when one is configured. */
  token: string | null;
  /** Whether the listening address is a loopback address. */
  loopback: boolean;
};

export type GuardRequest = {
  host: string | undefined;
  origin: string | undefined;
  authorization: string | undefined;
  cookie: string | undefined;
  /** The `token` query parameter (accepted only to open the page; it is then set as a cookie). */
  queryToken: string | null;
};

export type GuardVerdict = { ok: true; viaQueryToken: boolean } | { ok: false; status: 401 | 403; reason: string };

export const TOKEN_COOKIE = 'pinhole_token';

/** localhost, any 127.x.y.z, or [::1] — with or without a port. */
export function isLoopbackHost(hostHeader: string): boolean {
  const host = stripPort(hostHeader.trim().toLowerCase());
  if (host === 'localhost' || host === '[::1]') return true;
  const parts = host.split('.');
  return parts.length === 4 && parts[0] === '127' && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** Whether a bind address is a loopback one. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.trim().toLowerCase();
  return a === '::1' || a === 'localhost' || isLoopbackHost(a);
}

function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

function portOf(hostHeader: string, fallback: number): number {
  const host = hostHeader.trim();
  const bracket = host.lastIndexOf(']');
  const colon = host.lastIndexOf(':');
  if (colon > bracket && colon !== -1) return Number(host.slice(colon + 1));
  return fallback;
}

function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

export function checkRequest(req: GuardRequest, policy: GuardPolicy): GuardVerdict {
  if (!req.host) return { ok: false, status: 403, reason: 'missing Host header' };
  if (policy.loopback && !isLoopbackHost(req.host)) {
    return { ok: false, status: 403, reason: `Host "${req.host.slice(0, 100)}" is not a loopback name` };
  }
  if (req.origin !== undefined) {
    // Same origin only: the page must come from this server, under the name it used.
    let origin: URL | null = null;
    try {
      origin = req.origin === 'null' ? null : new URL(req.origin);
    } catch {
      origin = null;
    }
    const sameOrigin =
      origin !== null &&
      (origin.protocol === 'http:' || origin.protocol === 'https:') &&
      origin.host.toLowerCase() === req.host.trim().toLowerCase() &&
      (!policy.loopback ||
        (isLoopbackHost(origin.host) && portOf(origin.host, origin.protocol === 'https:' ? 443 : 80) === policy.port));
    if (!sameOrigin) return { ok: false, status: 403, reason: `Origin "${req.origin.slice(0, 100)}" is not allowed` };
  }
  if (policy.token === null) return { ok: true, viaQueryToken: false };

  const bearer = req.authorization?.startsWith('Bearer ') ? req.authorization.slice(7).trim() : null;
  const cookie = readCookie(req.cookie, TOKEN_COOKIE);
  if (bearer !== null && tokensEqual(bearer, policy.token)) return { ok: true, viaQueryToken: false };
  if (cookie !== null && tokensEqual(cookie, policy.token)) return { ok: true, viaQueryToken: false };
  if (req.queryToken !== null && tokensEqual(req.queryToken, policy.token)) return { ok: true, viaQueryToken: true };
  return { ok: false, status: 401, reason: 'an access token is required' };
}
