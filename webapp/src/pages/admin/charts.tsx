/**
 * Hand-made SVG charts (no chart library: a few hundred bytes instead of a hundred kilobytes). Colours come
 * from CSS classes, so they follow the Telegram theme and need no inline style. Each chart carries a text
 * summary for screen readers.
 */

export type ChartTone = 'accent' | 'bad' | 'warn' | 'good' | 'muted';

const WIDTH = 320;
const HEIGHT = 140;
const PAD = { top: 10, right: 8, bottom: 22, left: 30 };

function niceMax(value: number): number {
  if (value <= 5) return 5;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 5, 10].find((s) => s * magnitude >= value / 4) ?? 10;
  return Math.ceil(value / (step * magnitude)) * step * magnitude;
}

export interface Series {
  label: string;
  tone: ChartTone;
  values: number[];
}

/** Lines over time (e.g. events and failures per hour). */
export function LineChart({ labels, series, title }: { labels: string[]; series: Series[]; title: string }) {
  const max = niceMax(Math.max(1, ...series.flatMap((s) => s.values)));
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (labels.length <= 1 ? innerW / 2 : (i * innerW) / (labels.length - 1));
  const y = (v: number) => PAD.top + innerH - (v / max) * innerH;
  const summary = series
    .map((s) => `${s.label}: ${s.values.reduce((a, b) => a + b, 0)} in total, peak ${Math.max(0, ...s.values)}`)
    .join('; ');
  const tickEvery = Math.max(1, Math.ceil(labels.length / 6));
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`${title}. ${summary}`} className="chart-svg">
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line className="chart-grid" x1={PAD.left} x2={WIDTH - PAD.right} y1={y(max * f)} y2={y(max * f)} />
            <text className="chart-axis" x={PAD.left - 4} y={y(max * f) + 3} textAnchor="end">
              {Math.round(max * f)}
            </text>
          </g>
        ))}
        {labels.map((label, i) =>
          i % tickEvery === 0 ? (
            <text key={label + String(i)} className="chart-axis" x={x(i)} y={HEIGHT - 6} textAnchor="middle">
              {label}
            </text>
          ) : null,
        )}
        {series.map((s) => (
          <polyline
            key={s.label}
            className={`chart-line chart-line--${s.tone}`}
            points={s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}
          />
        ))}
      </svg>
      <figcaption className="chart-legend">
        {series.map((s) => (
          <span key={s.label} className="legend-item">
            <span className={`legend-swatch legend-swatch--${s.tone}`} aria-hidden="true" />
            {s.label}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

export interface Segment {
  label: string;
  value: number;
  tone: ChartTone;
}

/** A ring split into shares (e.g. sign-in successes and failures), with the first share's percentage inside. */
export function Donut({ segments, title }: { segments: Segment[]; title: string }) {
  const total = segments.reduce((sum, s) => sum + s.value, 0);
  const radius = 40;
  const circumference = 2 * Math.PI * radius;
  let offset = 0;
  const first = segments[0];
  const share = total > 0 && first ? Math.round((first.value / total) * 100) : null;
  const summary = segments.map((s) => `${s.label} ${s.value}`).join(', ');
  return (
    <figure className="chart chart--donut">
      <svg viewBox="0 0 100 100" role="img" aria-label={`${title}: ${summary}`} className="donut-svg">
        <circle className="donut-track" cx="50" cy="50" r={radius} />
        {total > 0
          ? segments.map((s) => {
              const length = (s.value / total) * circumference;
              const element = (
                <circle
                  key={s.label}
                  className={`donut-part chart-stroke--${s.tone}`}
                  cx="50"
                  cy="50"
                  r={radius}
                  strokeDasharray={`${length} ${circumference - length}`}
                  strokeDashoffset={-offset}
                  transform="rotate(-90 50 50)"
                />
              );
              offset += length;
              return element;
            })
          : null}
        <text className="donut-label" x="50" y="55" textAnchor="middle">
          {share === null ? '—' : `${share}%`}
        </text>
      </svg>
      <figcaption className="chart-legend">
        {segments.map((s) => (
          <span key={s.label} className="legend-item">
            <span className={`legend-swatch legend-swatch--${s.tone}`} aria-hidden="true" />
            {s.label}: {s.value}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

/** Horizontal bars (e.g. findings by severity). */
export function Bars({ items, title }: { items: Segment[]; title: string }) {
  const max = Math.max(1, ...items.map((i) => i.value));
  const rowHeight = 22;
  const labelWidth = 70;
  const height = items.length * rowHeight + 4;
  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${WIDTH} ${height}`}
        role="img"
        aria-label={`${title}: ${items.map((i) => `${i.label} ${i.value}`).join(', ')}`}
        className="chart-svg"
      >
        {items.map((item, index) => {
          const barWidth = ((WIDTH - labelWidth - 40) * item.value) / max;
          const top = index * rowHeight + 2;
          return (
            <g key={item.label}>
              <text className="chart-axis chart-axis--label" x={0} y={top + 14}>
                {item.label}
              </text>
              <rect
                className={`chart-fill--${item.tone}`}
                x={labelWidth}
                y={top + 3}
                width={Math.max(2, barWidth)}
                height={rowHeight - 8}
                rx={3}
              />
              <text className="chart-axis" x={labelWidth + Math.max(2, barWidth) + 6} y={top + 14}>
                {item.value}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
