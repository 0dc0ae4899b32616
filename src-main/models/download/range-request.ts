/**
 * One GET for the bytes from `from` onwards, following redirects (limited, each hop checked),
 * with the token sent only to the host it belongs to. Answers what the server actually sent:
 * the range we asked for (206), the whole file again (200: the server ignores ranges), or
 * "already complete" (416 with our size as the total).
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { PinholeError } from '../../../src-shared/errors';
import { checkRedirect } from './download-url';
import { RetryableTransferError } from './transfer-error';

export type RangeRequest = {
  url: URL;
  /** Bytes already on disk; 0 asks for the whole file (no Range header). */
  from: number;
  signal: AbortSignal;
  /** The token for a host, consulted only for the host the download started on. */
  tokenFor(host: string): Promise<string | null>;
  stallTimeoutMs: number;
  maxRedirects?: number;
};

export type RangeResponse =
  | { kind: 'complete'; total: number; finalUrl: URL }
  | {
      kind: 'body';
      /** Where the body starts: `from`, or 0 when the server sent the whole file. */
      start: number;
      /** The file's full size, when the server says. */
      total: number | null;
      body: IncomingMessage;
      finalUrl: URL;
    };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const DEFAULT_MAX_REDIRECTS = 8;

export async function requestRange(request: RangeRequest): Promise<RangeResponse> {
  const origin = request.url;
  let url = origin;
  const maxRedirects = request.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  for (let hop = 0; ; hop++) {
    // Same host as the first request, or no token: a redirect to a CDN never sees it.
    const token = url.hostname === origin.hostname ? await request.tokenFor(url.hostname) : null;
    const res = await get(url, request, token);
    const status = res.statusCode ?? 0;
    if (REDIRECTS.has(status)) {
      res.resume();
      const location = res.headers.location;
      if (!location) throw new PinholeError('UNAVAILABLE', `${url.host} answered ${status} without a Location.`);
      if (hop >= maxRedirects)
        throw new PinholeError('UNAVAILABLE', `Too many redirects (over ${maxRedirects}) starting at ${origin.host}.`);
      const next = new URL(location, url);
      checkRedirect(origin, next);
      url = next;
      continue;
    }
    return interpret(res, status, url, request.from);
  }
}

function interpret(res: IncomingMessage, status: number, url: URL, from: number): RangeResponse {
  const contentLength = parseLength(res.headers['content-length']);
  if (status === 200) return { kind: 'body', start: 0, total: contentLength, body: res, finalUrl: url };
  if (status === 206) {
    const range = parseContentRange(res.headers['content-range']);
    if (!range || range.start !== from) {
      res.destroy();
      throw new RetryableTransferError(
        `${url.host} sent the wrong range (${res.headers['content-range'] ?? 'none'} for bytes=${from}-); starting over.`,
        true,
      );
    }
    return { kind: 'body', start: from, total: range.total, body: res, finalUrl: url };
  }
  res.resume();
  if (status === 416) {
    const total = parseUnsatisfiedTotal(res.headers['content-range']);
    if (total !== null && total === from) return { kind: 'complete', total, finalUrl: url };
    // Our partial file is longer than the server's (it changed, or it is another file): start over.
    throw new RetryableTransferError(`${url.host} cannot serve bytes from ${from}; starting over.`, true);
  }
  if (status === 401 || status === 403) {
    throw new PinholeError(
      'UNAUTHORIZED',
      `${url.host} refused the download (${status}). If the model is gated, accept its license on the site, ` +
        `then give Pinhole an access token (Settings, or PINHOLE_HF_TOKEN in headless mode).`,
    );
  }
  if (status === 404 || status === 410) throw new PinholeError('NOT_FOUND', `Nothing to download at ${url.href}`);
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    throw new RetryableTransferError(
      `${url.host} answered ${status}`,
      false,
      parseRetryAfter(res.headers['retry-after']),
    );
  }
  throw new PinholeError('UNAVAILABLE', `${url.host} answered ${status} to the download request.`);
}

function get(url: URL, request: RangeRequest, token: string | null): Promise<IncomingMessage> {
  const headers: Record<string, string> = {
    'User-Agent': 'PinholeStudio',
    // Byte ranges must count the file's bytes, not a compressed stream's.
    'Accept-Encoding': 'identity',
  };
  if (request.from > 0) headers['Range'] = `bytes=${request.from}-`;
  if (token) headers['Authorization'] = `Bearer ${token}`;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method: 'GET', headers, signal: request.signal }, resolve);
    // Covers the whole exchange: no bytes for this long, headers or body, drops the socket.
    req.setTimeout(request.stallTimeoutMs, () =>
      req.destroy(new RetryableTransferError(`no data from ${url.host} for ${request.stallTimeoutMs / 1000} s`)),
    );
    req.on('error', reject);
    req.end();
  });
}

/** `Retry-After: 120` or an HTTP date → milliseconds from now; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | null {
  if (value === undefined) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function parseLength(value: string | undefined): number | null {
  if (value === undefined || !/^\d+$/.test(value)) return null;
  return Number(value);
}

/** `bytes 100-199/1000` → start 100, total 1000 (null for `*`). */
function parseContentRange(value: string | undefined): { start: number; total: number | null } | null {
  const match = value ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value.trim()) : null;
  if (!match) return null;
  return { start: Number(match[1]), total: match[3] === '*' ? null : Number(match[3]) };
}

/** The total of a 416's `bytes <star>/1000` → 1000. */
function parseUnsatisfiedTotal(value: string | undefined): number | null {
  const match = value ? /^bytes \*\/(\d+)$/.exec(value.trim()) : null;
  return match ? Number(match[1]) : null;
}
