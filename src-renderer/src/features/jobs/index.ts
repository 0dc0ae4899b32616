/** The job tray: shown on every page by the app shell. */
export { JobTray } from './job-tray';
