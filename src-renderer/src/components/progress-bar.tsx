/** A labelled progress bar; indeterminate while the total is unknown (0). */

/** Props: step of total, and the accessible label. */
export function ProgressBar({ step, total, label }: { step: number; total: number; label: string }) {
  const known = total > 0;
  const percent = known ? Math.min(100, (step / total) * 100) : 0;
  return (
    <div
      className={known ? 'progress' : 'progress progress-indeterminate'}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={known ? total : undefined}
      aria-valuenow={known ? step : undefined}
    >
      <div className="progress-fill" style={{ width: known ? `${percent}%` : undefined }} />
    </div>
  );
}
