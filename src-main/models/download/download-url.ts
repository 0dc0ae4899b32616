/**
 * Which URLs a download may use: HTTPS anywhere, plain HTTP only for loopback hosts (a local
 * mirror, the tests). Redirect hops are held to the same rule, and a download that started on
 * a public host never follows a redirect onto plain HTTP, loopback or not.
 */
import { PinholeError } from '../../../src-shared/errors';

/** `localhost`, any 127.x.y.z and `::1` (with or without brackets). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Parses and checks a download URL; throws INVALID_PARAMS saying what is wrong. */
export function checkDownloadUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PinholeError('INVALID_PARAMS', `Not a URL: "${raw.slice(0, 200)}"`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:') {
    if (isLoopbackHost(url.hostname)) return url;
    throw new PinholeError(
      'INVALID_PARAMS',
      `Downloads need HTTPS: ${url.host} is not this machine, so "http://" is refused. Use the https:// address.`,
    );
  }
  throw new PinholeError('INVALID_PARAMS', `Downloads use https:// URLs, not ${url.protocol}`);
}

/** Checks one redirect hop against where the download started; throws INVALID_PARAMS when refused. */
export function checkRedirect(from: URL, to: URL): void {
  checkDownloadUrl(to.href);
  if (to.protocol === 'http:' && !(from.protocol === 'http:' && isLoopbackHost(from.hostname))) {
    throw new PinholeError('INVALID_PARAMS', `Refusing a redirect from ${from.host} to plain HTTP (${to.host}).`);
  }
}
