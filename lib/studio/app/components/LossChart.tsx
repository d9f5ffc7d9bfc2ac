// Training loss and eval loss against the step, drawn by uPlot: the legend
// shows the values under the cursor; drag across to zoom, double-click to
// zoom back out.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface LossPoint {
  step: number;
  loss: number | null;
  evalLoss: number | null;
}

/** uPlot's columns (steps, loss, eval loss), one row per step, in step order. */
export function chartData(points: LossPoint[]): [number[], (number | null)[], (number | null)[]] {
  const byStep = new Map<number, LossPoint>();
  for (const p of points) {
    const prev = byStep.get(p.step);
    byStep.set(p.step, { step: p.step, loss: p.loss ?? prev?.loss ?? null, evalLoss: p.evalLoss ?? prev?.evalLoss ?? null });
  }
  const rows = [...byStep.values()].sort((a, b) => a.step - b.step);
  return [rows.map((r) => r.step), rows.map((r) => r.loss), rows.map((r) => r.evalLoss)];
}

// Canvas colours (a canvas cannot read CSS variables): the theme's muted text and grid.
const AXIS = "#8b93a7";
const GRID = "#262b35";

const fmt = (v: number | null) => (v === null || v === undefined ? "–" : v.toFixed(4));

export function LossChart({ points }: { points: LossPoint[] }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const hasEval = points.some((p) => typeof p.evalLoss === "number");

  useEffect(() => {
    const el = host.current!;
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 300),
      height: 280,
      scales: { x: { time: false } },
      cursor: { drag: { x: true, y: false }, points: { size: 7 } },
      // The visible step range, on the element: what a zoom changed, for tests and tools.
      hooks: {
        setScale: [
          (u, key) => {
            if (key !== "x") return;
            el.dataset.xMin = String(u.scales.x.min);
            el.dataset.xMax = String(u.scales.x.max);
          },
        ],
      },
      axes: [
        { label: "step", stroke: AXIS, grid: { stroke: GRID, width: 1 }, ticks: { stroke: GRID, width: 1 } },
        { label: "loss", stroke: AXIS, grid: { stroke: GRID, width: 1 }, ticks: { stroke: GRID, width: 1 }, size: 60 },
      ],
      series: [
        { label: "step", value: (_u, v) => (v === null ? "–" : String(v)) },
        { label: "loss", stroke: "#14b8a6", width: 2, value: (_u, v) => fmt(v), spanGaps: true, points: { show: false } },
        { label: "eval loss", stroke: "#ec4899", width: 2, dash: [6, 4], value: (_u, v) => fmt(v), spanGaps: true, points: { show: true, size: 6 } },
      ],
    };
    plot.current = new uPlot(opts, chartData(points), el);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(el.clientWidth, 300), height: 280 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    // Keep a zoom the user made; follow the run otherwise.
    plot.current?.setData(chartData(points), true);
    plot.current?.setSeries(2, { show: hasEval });
  }, [points, hasEval]);

  const empty = !points.some((p) => typeof p.loss === "number" || typeof p.evalLoss === "number");
  return (
    <div class="chart-wrap" data-testid="loss-chart" data-points={String(points.length)}>
      {empty && <p class="chart-empty muted">Waiting for training.log events…</p>}
      <div ref={host} class="chart" />
    </div>
  );
}
