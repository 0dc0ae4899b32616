/** Generate: txt2img, img2img and inpainting with live progress. */
export { GeneratePage } from './generate-page';
