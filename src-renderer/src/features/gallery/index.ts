/** Gallery: the library's images, virtualized, with a detail view. */
export { GalleryPage } from './gallery-page';
