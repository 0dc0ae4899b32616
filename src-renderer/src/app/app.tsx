/**
 * The studio shell: navigation, the current page inside its own error boundary, the job
 * tray (with its own boundary) under every page, and the window-wide file drop.
 */
import { ErrorBoundary } from '../components/error-boundary';
import { useRoute } from '../lib/router';
import { ConnectionBanner } from './connection-banner';
import { Navigation } from './navigation';
import { PAGE_ENTRIES } from './pages';
import { WindowDrop } from './window-drop';
import { JobTray } from '../features/jobs';

/** The root component. */
export function App() {
  const { page } = useRoute();
  const entry = PAGE_ENTRIES.find((p) => p.id === page) ?? PAGE_ENTRIES[0]!;
  const { Component } = entry;
  return (
    <div className="shell">
      <Navigation current={entry.id} />
      <div className="workspace">
        <ConnectionBanner />
        <main className="content" data-testid={`page-${entry.id}`}>
          {/* Keyed by page: a crash on one page must not stay on screen after navigating away. */}
          <ErrorBoundary key={entry.id} name={entry.label}>
            <Component />
          </ErrorBoundary>
        </main>
        <ErrorBoundary name="The job tray">
          <JobTray />
        </ErrorBoundary>
        <ErrorBoundary name="Dropping files">
          <WindowDrop page={entry.id} />
        </ErrorBoundary>
      </div>
    </div>
  );
}
