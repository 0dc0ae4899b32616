/** Generate: a placeholder until the inference engine exists. */
import { NotBuilt } from '../../components/not-built';

/** The Generate page. */
export function GeneratePage() {
  return (
    <NotBuilt title="Generate">
      Image generation arrives with the inference engine — not available in this build. Your photos, datasets and
      captions are ready for it.
    </NotBuilt>
  );
}
