/** A prompt box with A1111's live token counter (`10/75`, `80/150`, …) in its corner. */
import { useId, type KeyboardEvent } from 'react';
import { MAX_PROMPT, tokenLimit } from './form-model';
import { useTokenCount } from './use-token-count';

type Props = {
  /** Names the box and its test ids (`prompt`, `negative-prompt`). */
  name: 'prompt' | 'negative-prompt';
  label: string;
  value: string;
  model: string;
  placeholder: string;
  rows: number;
  error: string | undefined;
  onChange: (value: string) => void;
  /** Ctrl/⌘+Enter. */
  onSubmit: () => void;
};

/** The prompt box and its counter. */
export function PromptField({ name, label, value, model, placeholder, rows, error, onChange, onSubmit }: Props) {
  const id = useId();
  const { count, error: countError, pending } = useTokenCount(model, value);

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>): void => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      onSubmit();
    }
  };

  return (
    <div className="field prompt-field">
      <div className="field-head">
        <label htmlFor={id}>{label}</label>
        {model !== '' && (
          <span
            className={pending ? 'token-count token-count-pending' : 'token-count'}
            data-testid={`${name}-token-count`}
            data-pending={pending}
            title={
              countError ??
              'CLIP tokens in this box. Every 75 tokens start a new chunk, which the model reads separately.'
            }
            aria-live="polite"
          >
            {count === null ? (countError ? '?' : '…') : `${count}/${tokenLimit(count)}`}
          </span>
        )}
      </div>
      <textarea
        id={id}
        className="input prompt-input"
        value={value}
        rows={rows}
        maxLength={MAX_PROMPT}
        placeholder={placeholder}
        aria-invalid={error !== undefined}
        onChange={(e) => onChange(e.target.value)}
        onKeyDown={onKeyDown}
        data-testid={`${name}-input`}
      />
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
