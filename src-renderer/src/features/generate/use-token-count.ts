/**
 * The live token count of a prompt box: `text.countTokens` (`<lora:…>` tags not counted, embeddings
 * counted as their vectors) on the selected model's tokenizer, asked once typing pauses. Answers for
 * older text are dropped.
 */
import { useEffect, useState } from 'react';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';

const DELAY_MS = 250;

/** A count for some text; `text` says which, so a count for older text is shown as pending. */
type Counted = { model: string; text: string; count: number | null; error: string | null };

/** The count for `text` (null until known or without a model), and whether a newer one is on its way. */
export function useTokenCount(
  model: string,
  text: string,
): { count: number | null; error: string | null; pending: boolean } {
  const { client } = useStudio();
  const [counted, setCounted] = useState<Counted | null>(null);

  useEffect(() => {
    if (model === '') return;
    let stale = false;
    const timer = setTimeout(
      () => {
        client
          .call('text.countTokens', { model, text })
          .then(({ count }) => !stale && setCounted({ model, text, count, error: null }))
          .catch((error: unknown) => !stale && setCounted({ model, text, count: null, error: userMessage(error) }));
      },
      // Empty boxes need no server round trip to show 0, but go through the same path.
      text === '' ? 0 : DELAY_MS,
    );
    return () => {
      stale = true;
      clearTimeout(timer);
    };
  }, [client, model, text]);

  if (model === '') return { count: null, error: null, pending: false };
  const sameModel = counted?.model === model;
  return {
    count: sameModel ? counted.count : null,
    error: sameModel ? counted.error : null,
    pending: !sameModel || counted.text !== text,
  };
}
