/** Renderer entry: pick the transport, start syncing the shared caches, render the shell. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/app';
import { createStudio } from './lib/studio';
import { StudioProvider } from './lib/studio-context';
import { startSync } from './state/sync';
import './styles.css';

const studio = createStudio();
startSync(studio.client);

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root');

createRoot(container).render(
  <StrictMode>
    <StudioProvider studio={studio}>
      <App />
    </StudioProvider>
  </StrictMode>,
);
