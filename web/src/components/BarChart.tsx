// Bar charts on uPlot (a small canvas chart library): categories on x; each further series is
// drawn over the one before, narrower (e.g. failures over attempts).
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  values: number[];
  color: string;
}

export function BarChart(props: {
  labels: string[]; series: Series[]; height?: number; title: string;
  /** show every n-th label only (e.g. every third hour) */ every?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const { labels, series, height = 220, title, every = 1 } = props;
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(200, el.clientWidth);
    // fewer labels where they would overlap (a phone); colours from the theme
    const step = width < 520 ? every * 2 : every;
    const styles = getComputedStyle(document.documentElement);
    const axis = styles.getPropertyValue('--muted').trim() || '#5b6478';
    const grid = styles.getPropertyValue('--line').trim() || '#e8ebf2';
    const n = series.length;
    const groupWidth = 0.7;
    const x = labels.map((_, i) => i);
    const long = every === 1 && (labels.length > 4 || labels.some((l) => l.length > 10));
    const opts: uPlot.Options = {
      width, height,
      legend: { show: n > 1, live: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [
        {
          splits: () => x,
          values: (_u, splits) => splits.map((i) => (i % step === 0 ? labels[i] ?? '' : '')),
          rotate: long ? -30 : 0,
          gap: 4, size: long ? 70 : 36, grid: { show: false },
          stroke: axis,
        },
        { stroke: axis, grid: { stroke: grid }, size: 44 },
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.color,
          fill: s.color,
          width: 0,
          points: { show: false },
          // later series are drawn over earlier ones (e.g. failures over attempts)
          paths: uPlot.paths.bars!({ size: [groupWidth - i * 0.2, 48], align: 0 }),
        })),
      ],
    };
    const plot = new uPlot(opts, [x, ...series.map((s) => s.values)], el);
    return () => plot.destroy();
  }, [labels, series, height, every]);
  return <div className="chart" ref={box} role="img" aria-label={title} />;
}
