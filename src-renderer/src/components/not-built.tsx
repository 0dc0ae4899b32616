/** An honest placeholder for a capability this build does not have: nothing on it pretends to work. */
import type { ReactNode } from 'react';

/** Says plainly what is missing and why. */
export function NotBuilt({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="page not-built" aria-labelledby="not-built-title" data-testid="not-built">
      <h1 id="not-built-title">{title}</h1>
      <div className="not-built-card">
        <span className="not-built-badge">Not available in this build</span>
        <p>{children}</p>
      </div>
    </section>
  );
}
