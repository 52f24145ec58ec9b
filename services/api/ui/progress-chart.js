/** Rows done over time, drawn with uPlot (served from the package, `/ui/vendor/uplot/`). */
import uPlot from '/ui/vendor/uplot/uPlot.esm.js';
import { h, replace } from './dom.js';
import { count } from './format.js';

/**
 * A chart in `el`, redrawn by `update(points, job, note?)` with `points` `{ at: ISO, rows }` (cumulative
 * rows done); a dashed line marks the input's total rows when planning knows them.
 */
export function progressChart(el) {
  const holder = h('div.chart-holder');
  const caption = h('p.muted.chart-caption');
  replace(el, holder, caption);
  /** @type {uPlot | undefined} */
  let plot;
  let total;

  const size = () => ({ width: Math.max(320, holder.clientWidth), height: 220 });
  const resize = () => plot?.setSize(size());
  window.addEventListener('resize', resize);

  function make(data) {
    plot = new uPlot(
      {
        ...size(),
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max, total ?? 0)] } },
        axes: [
          {
            stroke: '#5b6472',
            grid: { stroke: '#eceef1' },
            // Clock times only: uPlot's default adds a second row with the date, which overlaps itself.
            values: (_u, ticks) =>
              ticks.map((t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false })),
          },
          {
            stroke: '#5b6472',
            grid: { stroke: '#eceef1' },
            size: 64,
            values: (_u, ticks) => ticks.map((t) => count(t)),
          },
        ],
        series: [
          {},
          {
            label: 'rows done',
            stroke: '#2563eb',
            width: 2,
            fill: 'rgba(37, 99, 235, 0.10)',
            points: { show: false },
          },
          { label: 'rows total', stroke: '#9aa3af', width: 1, dash: [4, 4], points: { show: false } },
        ],
      },
      data,
      holder,
    );
  }

  return {
    update(points, job, note) {
      total = job.progress.rowsTotal;
      const xs = points.map((p) => new Date(p.at).getTime() / 1000);
      const ys = points.map((p) => p.rows);
      const totals = points.map(() => total ?? null);
      const data = [xs, ys, totals];
      if (points.length === 0) {
        caption.textContent = 'Nothing to draw until the job starts.';
      } else {
        const last = points.at(-1);
        caption.textContent = `${count(last?.rows)} rows done${typeof total === 'number' ? ` of ${count(total)}` : ''}${note ? ` — ${note}` : ''}`;
      }
      if (plot === undefined) make(data);
      else plot.setData(data);
    },
    destroy() {
      window.removeEventListener('resize', resize);
      plot?.destroy();
    },
  };
}
