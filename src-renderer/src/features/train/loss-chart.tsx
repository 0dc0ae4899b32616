/** The loss chart: raw loss per step (thin) and the smoothed loss (bold), as SVG polylines. */
import type { LossPoint } from './loss-history-store';

const W = 480;
const H = 160;
const PAD = 28;
// Room on the left for the y-axis labels (e.g. "0.233").
const LEFT = 44;

/** Props: the points so far and the run's total steps (the x axis). */
export function LossChart({ points, totalSteps }: { points: readonly LossPoint[]; totalSteps: number }) {
  if (points.length === 0) {
    return (
      <p className="muted loss-chart-empty" data-testid="loss-chart-empty">
        The loss appears after the first step.
      </p>
    );
  }
  const values = points.flatMap((p) => [p.loss, p.smooth]).filter(Number.isFinite);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const span = hi - lo || Math.abs(hi) || 1;
  const xMax = Math.max(totalSteps, points[points.length - 1]?.step ?? 1, 1);
  const x = (step: number) => LEFT + ((W - LEFT - PAD) * step) / xMax;
  const y = (v: number) => H - PAD - ((H - 2 * PAD) * (v - lo)) / span;
  const line = (pick: (p: LossPoint) => number) =>
    points.map((p) => `${x(p.step).toFixed(1)},${y(pick(p)).toFixed(1)}`).join(' ');
  const last = points[points.length - 1]!;
  return (
    <figure className="loss-chart" data-testid="loss-chart" data-points={points.length}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Training loss over ${points.length} steps`}>
        <line className="axis" x1={LEFT} y1={H - PAD} x2={W - PAD} y2={H - PAD} />
        <line className="axis" x1={LEFT} y1={PAD} x2={LEFT} y2={H - PAD} />
        <text className="tick" x={LEFT - 4} y={PAD + 4} textAnchor="end">
          {hi.toPrecision(3)}
        </text>
        <text className="tick" x={LEFT - 4} y={H - PAD} textAnchor="end">
          {lo.toPrecision(3)}
        </text>
        <text className="tick" x={W - PAD} y={H - PAD + 14} textAnchor="end">
          {xMax}
        </text>
        <polyline className="loss-raw" data-testid="loss-raw" points={line((p) => p.loss)} />
        <polyline className="loss-smooth" data-testid="loss-smooth" points={line((p) => p.smooth)} />
      </svg>
      <figcaption className="muted">
        Step {last.step}: loss {last.loss.toFixed(4)}, smoothed {last.smooth.toFixed(4)}
      </figcaption>
    </figure>
  );
}
