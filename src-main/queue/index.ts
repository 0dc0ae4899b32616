export { JobQueue, PauseRequest, type JobQueueOptions, type StartOptions } from './job-queue';
export type { JobContext, JobHandler, AnyJobHandler } from './job-handler';
export { TERMINAL_STATES } from './job-store';
