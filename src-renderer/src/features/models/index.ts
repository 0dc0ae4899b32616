/** Models (not built yet). */
export { ModelsPage } from './models-page';
