/**
 * Figures as plain Plotly JSON (`{ data, layout }`): no browser and no plotly.js needed to build
 * them. Reports inline plotly.js to draw them; notebooks send them as
 * `application/vnd.plotly.v1+json`.
 *
 * @module
 */
import type { Trajectory } from "../trajectory.ts";

/** A Plotly figure: traces and layout, as JSON. */
export interface PlotlyFigure {
  /** The traces. */
  data: Record<string, unknown>[];
  /** The layout. */
  layout: Record<string, unknown>;
}

/** One training-loss record. */
export interface LossRecord {
  /** The optimiser step. */
  step: number;
  /** The batch loss. */
  loss: number;
  /** The batch's stage index k. */
  k: number;
}

const STAGE_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

/**
 * A log axis with readable ticks: 1, 2 and 5 times every power of ten inside the data's range,
 * labelled as plain numbers (Plotly's own log ticks label 0.2, 0.3, 0.4 as "2", "3", "4").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { logAxis } from "./figures.ts";
 * const axis = logAxis([0.031, 0.48], "MSE");
 * assert.deepEqual(axis.ticktext, ["0.05", "0.1", "0.2"]);
 * ```
 *
 * @param values the values the axis shows (non-positive and non-finite ones are ignored)
 * @param title the axis title
 * @returns the Plotly axis
 */
export function logAxis(values: Iterable<number | null>, title: string): {
  type: "log";
  title: { text: string };
  tickvals: number[];
  ticktext: string[];
} {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (v !== null && Number.isFinite(v) && v > 0) (lo = Math.min(lo, v), hi = Math.max(hi, v));
  }
  const tickvals: number[] = [];
  if (lo <= hi) {
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of [1, 2, 5]) {
        const v = Number((m * 10 ** e).toPrecision(1));
        if (v >= lo && v <= hi) tickvals.push(v);
      }
    }
    // A range inside one 1-2-5 step also gets its two ends.
    if (tickvals.length < 2) {
      const all = new Set([round2(lo), ...tickvals, round2(hi)]);
      tickvals.splice(0, tickvals.length, ...[...all].sort((a, b) => a - b));
    }
  }
  return { type: "log", title: { text: title }, tickvals, ticktext: tickvals.map(String) };
}

/** Two significant digits, as a number. */
const round2 = (v: number) => Number(v.toPrecision(2));

/**
 * The training loss by stage: one trace per stage k, smoothed by an exponential moving average.
 *
 * @param records the loss records
 * @param options `smoothing` in [0, 1) (default 0.95), `title`
 * @returns the figure
 */
export function lossFigure(
  records: LossRecord[],
  options: { smoothing?: number; title?: string } = {},
): PlotlyFigure {
  const smoothing = options.smoothing ?? 0.95;
  const ks = [...new Set(records.map((r) => r.k))].sort((a, b) => b - a);
  const data = ks.map((k) => {
    const own = records.filter((r) => r.k === k);
    let ema = own[0]?.loss ?? 0;
    const y = own.map((
      r,
      i,
    ) => (ema = i === 0 ? r.loss : smoothing * ema + (1 - smoothing) * r.loss));
    return {
      type: "scatter",
      mode: "lines",
      name: `stage k = ${k}`,
      x: own.map((r) => r.step),
      y: y.map((v) => Number(v.toPrecision(5))),
      line: { color: STAGE_COLOURS[(k - 1) % STAGE_COLOURS.length] },
    };
  });
  return {
    data,
    layout: {
      title: { text: options.title ?? "Training loss by stage (EMA-smoothed)" },
      xaxis: { title: { text: "step" } },
      yaxis: logAxis(data.flatMap((d) => d.y), "MSE"),
      height: 360,
      margin: { t: 50, r: 20, b: 50, l: 60 },
    },
  };
}

/**
 * Held-out loss by stage over training (one trace per stage, the same colours as
 * {@link lossFigure}).
 *
 * @param records per evaluation, the step and the loss per stage index k
 * @param options `title`
 * @returns the figure
 */
export function validationFigure(
  records: { step: number; losses: Record<number, number> }[],
  options: { title?: string } = {},
): PlotlyFigure {
  const ks = [...new Set(records.flatMap((r) => Object.keys(r.losses).map(Number)))].sort((a, b) =>
    b - a
  );
  const data = ks.map((k) => ({
    type: "scatter",
    mode: "lines+markers",
    name: `held-out, stage k = ${k}`,
    x: records.map((r) => r.step),
    y: records.map((r) => r.losses[k] ?? null),
    line: { color: STAGE_COLOURS[(k - 1) % STAGE_COLOURS.length] },
  }));
  return {
    data,
    layout: {
      title: { text: options.title ?? "Held-out loss by stage (fixed videos, noise and times)" },
      xaxis: { title: { text: "step" } },
      yaxis: logAxis(data.flatMap((d) => d.y), "MSE"),
      height: 320,
      margin: { t: 50, r: 20, b: 50, l: 60 },
    },
  };
}

/** σ(t) along each stage's steps, one trace per stage, broken at the renoising jumps. */
function sigmaTraces(trajectory: Trajectory): Record<string, unknown>[] {
  const points: { x: number; sigma: number; k: number; frames: number }[] = [];
  for (const s of trajectory.steps) {
    points.push({ x: s.index, sigma: s.sigma, k: s.k, frames: s.frames });
    const jump = trajectory.jumps.find((j) => j.afterIndex === s.index);
    points.push({ x: s.index + 1, sigma: s.sigmaNext, k: s.k, frames: s.frames });
    if (jump) points.push({ x: s.index + 1, sigma: NaN, k: s.k, frames: s.frames });
  }
  const ks = [...new Set(trajectory.steps.map((s) => s.k))].sort((a, b) => b - a);
  return ks.map((k) => {
    const own = points.filter((p) => p.k === k);
    return {
      type: "scatter",
      mode: "lines+markers",
      name: `σ(t), stage k = ${k}`,
      x: own.map((p) => p.x),
      y: own.map((p) => (Number.isNaN(p.sigma) ? null : Number(p.sigma.toPrecision(6)))),
      line: { color: STAGE_COLOURS[(k - 1) % STAGE_COLOURS.length] },
      marker: { size: 5 },
    };
  });
}

/**
 * A staged sampler's trajectory: the noise level σ(t) at every step (left axis), the frame count
 * (right axis), and each renoising jump σ(e_k) → σ(s_{k−1}) marked.
 *
 * @param trajectory a recorded trajectory
 * @param options `title`
 * @returns the figure
 */
export function trajectoryFigure(
  trajectory: Trajectory,
  options: { title?: string } = {},
): PlotlyFigure {
  const data = [
    ...sigmaTraces(trajectory),
    {
      type: "scatter",
      mode: "lines+markers",
      name: "renoising jump",
      x: trajectory.jumps.flatMap((j) => [j.afterIndex + 1, j.afterIndex + 1, null]),
      y: trajectory.jumps.flatMap((j) => [j.sigmaFrom, j.sigmaTo, null]),
      line: { color: "#d62728", dash: "dot", width: 2 },
      marker: { symbol: "triangle-up", size: 9 },
    },
    {
      type: "scatter",
      mode: "lines",
      name: "frames",
      x: trajectory.steps.flatMap((s) => [s.index, s.index + 1]),
      y: trajectory.steps.flatMap((s) => [s.frames, s.frames]),
      yaxis: "y2",
      line: { color: "#7f7f7f", shape: "hv", width: 1.5 },
    },
  ];
  return {
    data,
    layout: {
      title: { text: options.title ?? "Sampling trajectory: noise level and frame count per step" },
      xaxis: { title: { text: "sampling step" } },
      yaxis: { title: { text: "noise level σ(t)" }, rangemode: "tozero" },
      yaxis2: {
        title: { text: "frames" },
        overlaying: "y",
        side: "right",
        rangemode: "tozero",
        range: [0, trajectory.frames * 1.1],
      },
      annotations: trajectory.jumps.map((j) => ({
        x: j.afterIndex + 1,
        y: j.sigmaTo,
        text: `k ${j.fromK}→${j.toK}: ${j.framesFrom}→${j.framesTo} frames, c = ${j.c.toFixed(3)}`,
        showarrow: true,
        arrowhead: 2,
        ax: 40,
        ay: -30,
        font: { size: 11 },
      })),
      legend: { orientation: "h", y: -0.25 },
      height: 420,
      margin: { t: 50, r: 60, b: 90, l: 60 },
    },
  };
}
