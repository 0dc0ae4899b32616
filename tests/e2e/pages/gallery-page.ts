/** Page object: Gallery (virtualized grid, search, detail dialog). */
import type { Locator, Page } from 'playwright-core';

/** The Gallery page. */
export class GalleryPage {
  constructor(private readonly page: Page) {}

  /** Thumbnails currently in the DOM (the grid is virtualized: only rows near the viewport). */
  thumbnails(): Locator {
    return this.page.getByTestId('gallery-thumb');
  }

  /** The "N images" line. */
  total(): Promise<string> {
    return this.page.getByTestId('gallery-total').innerText();
  }

  /** Types into the search box. */
  async search(text: string): Promise<void> {
    await this.page.getByLabel('Search images').fill(text);
  }

  /** Scrolls the grid (the scroll container, not the window) to its end. */
  async scrollToEnd(): Promise<void> {
    await this.scrollTo('end');
  }

  /** Scrolls the grid back to its start. */
  async scrollToTop(): Promise<void> {
    await this.scrollTo('start');
  }

  private async scrollTo(where: 'start' | 'end'): Promise<void> {
    // The tests' tsconfig has no DOM types; the element is only touched through these two fields.
    await this.page.getByTestId('gallery-scroll').evaluate((el, to) => {
      const box = el as unknown as { scrollTop: number; scrollHeight: number };
      box.scrollTop = to === 'end' ? box.scrollHeight : 0;
    }, where);
  }

  /** Opens the detail view of the thumbnail at `index` among those rendered. */
  async open(index: number): Promise<Locator> {
    await this.thumbnails().nth(index).click();
    const detail = this.detail();
    await detail.waitFor();
    return detail;
  }

  /** The detail dialog. */
  detail(): Locator {
    return this.page.getByTestId('image-detail');
  }
}
