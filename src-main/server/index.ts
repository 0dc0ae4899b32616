export { startServer, SERVER_CSP, type RunningServer, type ServerOptions } from './http-server';
export { readServerRecord, writeServerRecord, type ServerRecord } from './server-discovery';
export { isLoopbackAddress, isLoopbackHost, checkRequest } from './request-guard';
