import { describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => ({}));

import {
  APP_ENTRY_URL,
  CONTENT_SECURITY_POLICY,
  hardenSession,
  isAppUrl,
  isTrustedSender,
} from '../../src-main/app/security';

describe('CONTENT_SECURITY_POLICY', () => {
  const directives = new Map(
    CONTENT_SECURITY_POLICY.split(';').map((part) => {
      const [name, ...values] = part.trim().split(/\s+/);
      return [name, values] as const;
    }),
  );

  it('has exactly the strict directives', () => {
    expect(Object.fromEntries(directives)).toEqual({
      'default-src': ["'self'"],
      'img-src': ["'self'", 'pinhole-media:', 'data:', 'blob:'],
      'script-src': ["'self'"],
      'style-src': ["'self'", "'unsafe-inline'"],
      'connect-src': ["'self'"],
      'object-src': ["'none'"],
      'base-uri': ["'none'"],
      'frame-ancestors': ["'none'"],
      'form-action': ["'none'"],
    });
  });

  it('allows no inline or evaluated script and no remote origin', () => {
    expect(directives.get('script-src')).not.toContain("'unsafe-inline'");
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-eval');
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/https?:|\*/);
  });
});

describe('isTrustedSender', () => {
  it('accepts only frames on the app origin', () => {
    expect(isTrustedSender({ url: APP_ENTRY_URL })).toBe(true);
    expect(isTrustedSender({ url: 'pinhole-app://app/gallery?x=1#y' })).toBe(true);
  });

  it.each([
    'file:///opt/pinhole/dist/renderer/index.html',
    'http://evil.example/',
    'https://evil.example/pinhole-app://app/',
    'devtools://devtools/bundled/devtools_app.html',
    'chrome-extension://abc/index.html',
    'pinhole-media://app/index.html',
    'pinhole-app://evil/index.html',
    'pinhole-app://app.evil/index.html',
    'pinhole-app://app@evil/index.html',
    'pinhole-app://user:pw@app/index.html',
    'pinhole-app://app:1234/index.html',
    'about:blank',
    'data:text/html,<script>1</script>',
    '',
    'not a url',
  ])('rejects %s', (url) => {
    expect(isTrustedSender({ url })).toBe(false);
    expect(isAppUrl(url)).toBe(false);
  });

  it('rejects a missing frame (navigated away or destroyed)', () => {
    expect(isTrustedSender(null)).toBe(false);
    expect(isTrustedSender(undefined)).toBe(false);
    expect(isTrustedSender({} as { url: string })).toBe(false);
  });
});

describe('hardenSession', () => {
  function fakeSession() {
    const fake = {
      headersListener: undefined as
        undefined | ((details: { responseHeaders?: Record<string, string[]> }, cb: (r: unknown) => void) => void),
      requestHandler: undefined as undefined | ((wc: unknown, permission: string, cb: (ok: boolean) => void) => void),
      checkHandler: undefined as undefined | ((...args: unknown[]) => boolean),
      webRequest: { onHeadersReceived: (listener: never) => void (fake.headersListener = listener) },
      setPermissionRequestHandler: (handler: never) => void (fake.requestHandler = handler),
      setPermissionCheckHandler: (handler: never) => void (fake.checkHandler = handler),
    };
    return fake;
  }

  it('puts our CSP on every response, replacing any other', () => {
    const session = fakeSession();
    hardenSession(session as never);
    const callback = vi.fn();
    session.headersListener!(
      { responseHeaders: { 'content-security-policy': ['default-src *'], 'Content-Type': ['text/html'] } },
      callback,
    );
    expect(callback).toHaveBeenCalledWith({
      responseHeaders: { 'Content-Type': ['text/html'], 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] },
    });
  });

  it('denies every permission request and check', () => {
    const session = fakeSession();
    hardenSession(session as never);
    for (const permission of ['media', 'notifications', 'geolocation', 'openExternal', 'clipboard-read']) {
      const callback = vi.fn();
      session.requestHandler!({}, permission, callback);
      expect(callback).toHaveBeenCalledWith(false);
      expect(session.checkHandler!({}, permission, APP_ENTRY_URL, {})).toBe(false);
    }
  });
});
