/**
 * The job tray, docked under every page: running and queued jobs with progress and Cancel,
 * and a collapsible history of finished ones. Reads the shared job cache only.
 */
import { useShallow } from 'zustand/react/shallow';
import { plural } from '../../components/format';
import { useStoredFlag } from '../../lib/use-stored-flag';
import { selectActiveJobs, selectFinishedJobs, useJobsStore } from '../../state/jobs-store';
import { JobRow } from './job-row';
import './jobs.css';

/** How many finished jobs the history shows; older ones stay in the core's database. */
const HISTORY_SHOWN = 50;

/** The tray. */
export function JobTray() {
  const active = useJobsStore(useShallow(selectActiveJobs));
  const finished = useJobsStore(useShallow(selectFinishedJobs));
  // Open by default so a job that just finished stays in sight; the choice is remembered.
  const [open, setOpen] = useStoredFlag('tray.open', true);
  const [historyOpen, setHistoryOpen] = useStoredFlag('tray.history', true);

  const running = active.filter((job) => job.state === 'running').length;
  const summary =
    active.length === 0
      ? 'No jobs running'
      : [running > 0 && `${running} running`, active.length - running > 0 && `${active.length - running} queued`]
          .filter(Boolean)
          .join(' · ');

  return (
    <aside className={open ? 'tray tray-open' : 'tray'} aria-label="Jobs" data-testid="job-tray">
      <button
        type="button"
        className="tray-header"
        aria-expanded={open}
        aria-controls="tray-body"
        onClick={() => setOpen(!open)}
      >
        <span className="tray-title">Jobs</span>
        <span className="tray-summary" data-testid="job-summary">
          {summary}
        </span>
        <span className="tray-chevron" aria-hidden="true">
          {open ? '▾' : '▴'}
        </span>
      </button>
      {open && (
        <div className="tray-body" id="tray-body">
          {active.length > 0 && (
            <ul className="job-list" aria-label="Active jobs" data-testid="active-jobs">
              {active.map((job) => (
                <JobRow key={job.id} job={job} />
              ))}
            </ul>
          )}
          {finished.length > 0 && (
            <section className="tray-history">
              <button
                type="button"
                className="link-button"
                aria-expanded={historyOpen}
                onClick={() => setHistoryOpen(!historyOpen)}
                data-testid="job-history-toggle"
              >
                {historyOpen ? 'Hide' : 'Show'} history ({plural(finished.length, 'finished job')})
              </button>
              {historyOpen && (
                <ul className="job-list" aria-label="Finished jobs" data-testid="job-history">
                  {finished.slice(0, HISTORY_SHOWN).map((job) => (
                    <JobRow key={job.id} job={job} />
                  ))}
                </ul>
              )}
            </section>
          )}
          {active.length === 0 && finished.length === 0 && (
            <p className="muted">Imports, generations and training runs show up here.</p>
          )}
        </div>
      )}
    </aside>
  );
}
