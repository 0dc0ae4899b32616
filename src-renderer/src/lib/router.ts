/**
 * Hash routing (`#/train/<datasetId>`, `#/gallery/<sha256>`): the page and its selection
 * survive a reload, and it works under both `http://` and the desktop's custom scheme.
 */
import { useSyncExternalStore } from 'react';

/** The top-level pages, in navigation order. */
export const PAGES = ['generate', 'train', 'gallery', 'models', 'wallet', 'settings'] as const;
export type PageId = (typeof PAGES)[number];

/** The parsed location: a page and what follows it (e.g. the selected dataset id). */
export type Route = { page: PageId; rest: readonly string[] };

const DEFAULT_PAGE: PageId = 'train';

function isPage(value: string | undefined): value is PageId {
  return (PAGES as readonly string[]).includes(value ?? '');
}

/** Parses a location hash; unknown pages fall back to the default page. */
export function parseHash(hash: string): Route {
  const segments = hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter(Boolean)
    .map((s) => decodeURIComponent(s));
  const [first, ...rest] = segments;
  return isPage(first) ? { page: first, rest } : { page: DEFAULT_PAGE, rest: [] };
}

/** Formats a route as a hash. */
export function routeHash(page: PageId, ...rest: string[]): string {
  return `#/${[page, ...rest].map(encodeURIComponent).join('/')}`;
}

let cachedHash: string | null = null;
let cachedRoute: Route = { page: DEFAULT_PAGE, rest: [] };

// useSyncExternalStore needs a stable snapshot per hash, not a fresh object per call.
function snapshot(): Route {
  if (window.location.hash !== cachedHash) {
    cachedHash = window.location.hash;
    cachedRoute = parseHash(cachedHash);
  }
  return cachedRoute;
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
}

/** The current route, re-rendering on every hash change. */
export function useRoute(): Route {
  return useSyncExternalStore(subscribe, snapshot);
}

/** Goes to a page; `replace` avoids a history entry (for selections, not navigation). */
export function navigate(page: PageId, rest: string[] = [], options: { replace?: boolean } = {}): void {
  const hash = routeHash(page, ...rest);
  if (hash === window.location.hash) return;
  if (options.replace) {
    window.history.replaceState(null, '', hash);
    // replaceState fires no hashchange; announce it so subscribers re-read.
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    window.location.hash = hash;
  }
}
