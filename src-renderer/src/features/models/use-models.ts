/**
 * The models list as main has it: fetched on every (re)connect and again whenever the core
 * says the library changed. Main owns the data; this hook only caches the latest answer.
 */
import { useCallback, useEffect, useState } from 'react';
import type { ModelEntry } from '../../../../src-shared/api/schemas';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { useConnectionStore } from '../../state/connection-store';

export type ModelsQuery = {
  models: ModelEntry[] | null;
  error: string | null;
  refresh: () => void;
};

export function useModels(): ModelsQuery {
  const { client } = useStudio();
  const epoch = useConnectionStore((s) => s.epoch);
  const [models, setModels] = useState<ModelEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);
  const refresh = useCallback(() => setGeneration((g) => g + 1), []);

  useEffect(() => client.onEvent((m) => m.event === 'models.changed' && refresh()), [client, refresh]);

  useEffect(() => {
    if (epoch === 0) return;
    let stale = false;
    client.call('models.list', {}).then(
      (list) => {
        if (stale) return;
        setModels(list);
        setError(null);
      },
      (e: unknown) => !stale && setError(userMessage(e)),
    );
    return () => {
      stale = true;
    };
  }, [client, epoch, generation]);

  return { models, error, refresh };
}
