/** Generate (not built yet). */
export { GeneratePage } from './generate-page';
