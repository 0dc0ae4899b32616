/** Models: a placeholder until base models and trained LoRAs can be managed. */
import { NotBuilt } from '../../components/not-built';

/** The Models page. */
export function ModelsPage() {
  return (
    <NotBuilt title="Models">
      Base models and your trained LoRAs will be managed here once the inference and training engines ship — not
      available in this build.
    </NotBuilt>
  );
}
