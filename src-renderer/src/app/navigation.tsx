/** The sidebar: one link per page, the current one marked for assistive tech too. */
import { routeHash, type PageId } from '../lib/router';
import { PAGE_ENTRIES } from './pages';

/** The sidebar navigation. */
export function Navigation({ current }: { current: PageId }) {
  return (
    <nav className="nav" aria-label="Studio">
      <div className="brand">
        <span className="brand-mark" aria-hidden="true" />
        <span className="brand-name">Pinhole Studio</span>
      </div>
      <ul>
        {PAGE_ENTRIES.map((page) => (
          <li key={page.id}>
            <a
              href={routeHash(page.id)}
              className={page.id === current ? 'nav-link active' : 'nav-link'}
              aria-current={page.id === current ? 'page' : undefined}
              data-testid={`nav-${page.id}`}
            >
              <span className="nav-icon" aria-hidden="true">
                {page.icon}
              </span>
              <span>{page.label}</span>
              {page.notBuilt && <span className="nav-soon">soon</span>}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
