/** Makes the one `Studio` available to every feature without features knowing how it was built. */
import { createContext, useContext, type ReactNode } from 'react';
import type { Studio } from './studio';

const StudioContext = createContext<Studio | null>(null);

/** Provides the studio to the tree below. */
export function StudioProvider({ studio, children }: { studio: Studio; children: ReactNode }) {
  return <StudioContext.Provider value={studio}>{children}</StudioContext.Provider>;
}

/** The current studio; throws outside a provider because that is a wiring bug. */
export function useStudio(): Studio {
  const studio = useContext(StudioContext);
  if (!studio) throw new Error('useStudio() used outside <StudioProvider>');
  return studio;
}
