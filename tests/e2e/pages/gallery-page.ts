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

  /** Scrolls the grid to its end (the scroll container, not the window). */
  async scrollToEnd(): Promise<void> {
    const grid = this.page.getByTestId('gallery-scroll');
    await grid.hover();
    await this.page.mouse.wheel(0, 1_000_000);
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
