/**
 * Turns the benchmark's measurements into `BENCHMARKS.md` (tables and SVG plots), an HTML report
 * with Plotly figures, and a short summary for the terminal.
 *
 * @module
 */
import type { MotionStats } from "../../lib/metrics/mod.ts";
import { type DiffusionForm, formFromFile } from "../../lib/nn/mod.ts";
import {
  type PlotlyFigure,
  type ReportSection,
  SVG_PALETTE,
  svgBarChart,
  svgLineChart,
  type SvgSeries,
} from "../../lib/viz/mod.ts";
import type { AlignmentRow } from "./alignment.ts";
import type { InferenceRow } from "./inference.ts";
import type { Quality } from "./quality.ts";
import type { TorchResult } from "./torch.ts";
import { type Method, METHODS, type TrainingRun } from "./training.ts";
import { mean, timeToReach } from "./util.ts";

/** Everything one run measured. */
export interface BenchResults {
  /** quick or full. */
  mode: string;
  /** When it finished. */
  date: string;
  /** Its wall-clock, s. */
  seconds: number;
  /** CPU, cores, versions, backend, commit. */
  machine: Record<string, string | number>;
  /** The sizes used. */
  sizes: {
    inference: { batch: number; totals: number[]; rounds: number };
    training: {
      seconds: number;
      evals: number;
      samples: number;
      sampleSteps: number;
      seeds: number[];
      forms: DiffusionForm[];
    };
    referenceVideos: number;
    alignment: { batches: number[]; reps: number };
    torchRounds: number;
  };
  /** Part 1. */
  inference: InferenceRow[];
  /** Part 2. */
  training: TrainingRun[];
  /** The real-data reference. */
  reference: {
    videos: number;
    floor: Quality;
    real: MotionStats;
    truth: MotionStats;
    realDiffMean: number;
    encoder: Record<string, unknown>;
  };
  /** Part 3. */
  alignment: AlignmentRow[];
  /** Part 4. */
  torch: TorchResult;
  /** Units kept from an earlier, interrupted run (empty when all were measured in this one). */
  reused: string[];
}

/** How the report names each training form: a heading, and a short id for files and summaries. */
const FORM_NAMES: Record<DiffusionForm, { title: string; id: string }> = {
  "flow-matching": { title: "Flow matching", id: "fm" },
  "vp-epsilon": { title: "DDIM", id: "ddim" },
};

/**
 * Results saved before the training forms were spelled out name them "fm" and "ddim"; this
 * renames them in place so that `--report-only` reads them.
 *
 * @param r saved results
 * @returns the same results, forms renamed
 */
export function upgradeResults(r: BenchResults): BenchResults {
  const rename = (form: string) => formFromFile(form) as DiffusionForm;
  r.sizes.training.forms = r.sizes.training.forms.map(rename);
  for (const run of r.training) run.form = rename(run.form);
  return r;
}

const f = (v: number | undefined, digits = 3) =>
  v === undefined || !Number.isFinite(v) ? "–" : Number(v.toPrecision(digits)).toString();
const ms = (v: number) => v >= 100 ? v.toFixed(0) : v.toFixed(1);
const LABEL: Record<Method, string> = {
  vanilla: "vanilla",
  "tpdiff-no-align": "TPDiff, no alignment",
  "tpdiff-align": "TPDiff + alignment",
};

function mdTable(columns: string[], rows: (string | number)[][]): string {
  const cell = (v: string | number) => String(v).replace(/\|/g, "\\|");
  return [
    `| ${columns.map(cell).join(" | ")} |`,
    `|${columns.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ].join("\n");
}

/** The aggregated training curves of one form and method (means over seeds). */
export interface Curve {
  /** The method. */
  method: Method;
  /** Mean training seconds at each evaluation. */
  seconds: number[];
  /** Mean FD at each evaluation. */
  fd: number[];
  /** Mean MMD². */
  mmd: number[];
  /** The runs (one per seed). */
  runs: TrainingRun[];
}

/**
 * Means over seeds, evaluation by evaluation (up to the shortest run's count).
 *
 * @param runs the training runs
 * @param form the form
 * @returns one curve per method
 */
export function curves(runs: TrainingRun[], form: DiffusionForm): Curve[] {
  return METHODS.map((method) => {
    const own = runs.filter((r) => r.form === form && r.method === method);
    const n = Math.min(...own.map((r) => r.evals.length));
    const at = (g: (q: TrainingRun["evals"][number]) => number) =>
      Array.from({ length: n }, (_, i) => mean(own.map((r) => g(r.evals[i]))));
    return {
      method,
      seconds: at((e) => e.seconds),
      fd: at((e) => e.quality.fd),
      mmd: at((e) => e.quality.mmd),
      runs: own,
    };
  });
}

/** A Plotly figure of one quality measure against training seconds, a line per method. */
function curveFigure(
  cs: Curve[],
  y: (c: Curve) => number[],
  title: string,
  yTitle: string,
): PlotlyFigure {
  return {
    data: cs.map((c) => ({
      type: "scatter",
      mode: "lines+markers",
      name: LABEL[c.method],
      x: c.seconds,
      y: y(c),
    })),
    layout: {
      title: { text: title },
      xaxis: { title: { text: "s" } },
      yaxis: { title: { text: yTitle } },
      height: 380,
    },
  };
}

/** One part of the report: its Markdown lines, SVG plots, HTML sections and summary lines. */
interface Part {
  md: string[];
  svgs: Record<string, string>;
  sections: ReportSection[];
  summary: string[];
}

const part = (init: Partial<Part>): Part => ({
  md: [],
  svgs: {},
  sections: [],
  summary: [],
  ...init,
});

/**
 * Builds the Markdown, the SVG plots, the HTML sections and the summary.
 *
 * @param r the measurements
 * @returns the documents
 */
export function buildReport(r: BenchResults): {
  markdown: string;
  svgs: Record<string, string>;
  html: { title: string; subtitle: string; sections: ReportSection[] };
  summary: string[];
} {
  const parts = [
    headerPart(r),
    inferencePart(r),
    trainingPart(r),
    alignmentPart(r),
    torchPart(r),
    reproducePart(),
  ];
  return {
    markdown: parts.flatMap((p) => p.md).join("\n"),
    svgs: Object.assign({}, ...parts.map((p) => p.svgs)),
    html: {
      title: "Benchmarks: TPDiff against vanilla diffusion",
      subtitle: `${r.mode} run, ${r.date}, ${r.machine.cpu}, ${r.machine.backend}`,
      sections: parts.flatMap((p) => p.sections),
    },
    summary: parts.flatMap((p) => p.summary),
  };
}

/** The title, what the run was, and the machine. */
function headerPart(r: BenchResults): Part {
  const m = r.machine;
  const reused = r.reused.length
    ? ` (except the units kept from an interrupted run: ${r.reused.join(", ")})`
    : "";
  return part({
    md: [
      "# Benchmarks: TPDiff against vanilla diffusion",
      "",
      `Regenerated by \`deno task bench${r.mode === "quick" ? " --quick" : ""}\` on ${
        r.date.slice(0, 10)
      } in ${(r.seconds / 60).toFixed(1)} min. Every number below was measured in that run, ` +
      `on one machine, side by side${reused}.` +
      (r.mode === "quick"
        ? " **This is a `--quick` smoke run at tiny sizes: its numbers mean nothing.**"
        : ""),
      "",
      mdTable(["machine", ""], [
        ["CPU", `${m.cpu}, ${m.cores} cores visible to Deno, ${m.memoryGiB} GiB`],
        ["OS", String(m.os)],
        ["Deno / V8", `${m.deno} / ${m.v8}`],
        ["tfjs backend", String(m.backend)],
        [
          "PyTorch",
          r.torch.available
            ? `${r.torch.torch}, ${r.torch.threads} threads (Debian python3-torch)`
            : `not measured: ${r.torch.reason}`,
        ],
        ["commit", String(m.commit)],
      ]),
      "",
      "The interactive version (Plotly) is written to `out/bench/BENCHMARKS.html` by the same " +
      "command; the raw measurements are in [`benchmarks/results.json`](benchmarks/results.json).",
      "",
    ],
  });
}

/** Part 1: staged sampling against vanilla, with the speed-up bound. */
function inferencePart(r: BenchResults): Part {
  const inf = r.inference;
  const staged = inf.filter((x) => x.K > 1);
  const met = staged.filter((x) => x.speedup / x.bound >= 0.95).length;
  const even = staged.filter((x) => x.split.split("-").every((v) => v === "1"));
  const svgs: Record<string, string> = {};
  const plots = r.sizes.inference.totals.map((total) => {
    const name = `inference-${total}.svg`;
    svgs[name] = inferenceSvg(inf.filter((x) => x.total === total && x.K > 1), total);
    return `![Sampling speed-up at ${total} steps](benchmarks/${name})\n`;
  });
  return part({
    md: [...inferenceText(r), ...plots],
    svgs,
    sections: [inferenceSection(r)],
    summary: [
      `inference: ${met} of ${staged.length} staged configurations reach ≥ 95 % of their bound; ` +
      even.map((x) => `K=${x.K} @${x.total}: ${x.speedup.toFixed(2)}× / ${x.bound.toFixed(2)}×`)
        .join(", "),
    ],
  });
}

function inferenceText(r: BenchResults): string[] {
  const staged = (row: InferenceRow, text: string) => row.K === 1 ? "–" : text;
  return [
    "## 1. Inference: staged sampling against vanilla",
    "",
    `train-small's U-Net (${
      r.torch.ourParameters.toLocaleString("en")
    } parameters), ${r.sizes.inference.batch} videos ` +
    `of 16 × 32 × 32 per call, flow matching with Heun, median of ${r.sizes.inference.rounds} interleaved rounds ` +
    "(every configuration once per round). The bound is the plan's for this network: vanilla's denoiser FLOPs over " +
    "the staged plan's (for this U-Net, whose cost per frame does not depend on the frame count, it equals the " +
    "frame-count bound of `speedupBound`). Splits give the weights of the steps per stage, coarsest first; " +
    "`splitSteps` gives remainders to the later, full-rate stages.",
    "",
    mdTable(
      [
        "K",
        "split",
        "steps per stage",
        "total steps",
        "median ms",
        "speed-up",
        "bound",
        "of bound",
        "goal ≥ 95 %",
      ],
      r.inference.map((row) => [
        row.K === 1 ? "1 (vanilla)" : row.K,
        row.split,
        row.steps.join("-"),
        row.total,
        ms(row.median),
        row.K === 1 ? "1" : `${row.speedup.toFixed(3)}×`,
        row.K === 1 ? "1" : `${row.bound.toFixed(3)}×`,
        staged(row, `${(100 * row.speedup / row.bound).toFixed(1)} %`),
        staged(row, row.speedup / row.bound >= 0.95 ? "✓" : "✗"),
      ]),
    ),
    "",
  ];
}

function inferenceSvg(rows: InferenceRow[], total: number): string {
  return svgBarChart(rows.map((x) => `K${x.K} ${x.split}`), [
    { name: "measured speed-up", values: rows.map((x) => x.speedup) },
    { name: "bound", values: rows.map((x) => x.bound), color: "#bbbbbb" },
  ], {
    title: `Sampling speed-up over vanilla, ${total} steps`,
    yLabel: "× vanilla",
    width: 900,
    reference: { value: 1, label: "vanilla" },
  });
}

function inferenceSection(r: BenchResults): ReportSection {
  const inf = r.inference;
  return {
    heading: "1. Inference",
    table: {
      columns: ["K", "split", "total steps", "median ms", "speed-up", "bound", "of bound"],
      rows: inf.map((
        x,
      ) => [x.K, x.split, x.total, x.median, x.speedup, x.bound, x.speedup / x.bound]),
    },
    figures: r.sizes.inference.totals.map((total) => {
      const rows = inf.filter((x) => x.total === total && x.K > 1);
      const labels = rows.map((x) => `K${x.K} ${x.split}`);
      return {
        data: [
          { type: "bar", name: "measured", x: labels, y: rows.map((x) => x.speedup) },
          { type: "bar", name: "bound", x: labels, y: rows.map((x) => x.bound) },
        ],
        layout: {
          title: { text: `Speed-up over vanilla, ${total} steps` },
          barmode: "group",
          height: 380,
        },
      } as PlotlyFigure;
    }),
  };
}

/** Part 2: quality against training wall-clock, per form. */
function trainingPart(r: BenchResults): Part {
  const forms = r.sizes.training.forms.map((form) => trainingForm(r, form));
  return part({
    md: [
      ...trainingText(r),
      ...forms.flatMap((p) => p.md),
      "Per-seed curves, steps and every metric at every evaluation are in `benchmarks/results.json`.",
      "",
    ],
    svgs: Object.assign({}, ...forms.map((p) => p.svgs)),
    sections: forms.flatMap((p) => p.sections),
    summary: forms.flatMap((p) => p.summary).map((s) => `training: ${s}`),
  });
}

function trainingText(r: BenchResults): string[] {
  const t = r.sizes.training;
  return [
    "## 2. Training: quality against wall-clock",
    "",
    `Each method trains train-small's network on train-small's data and recipe (batch 8, Adam, warm-up then cosine, ` +
    `the schedule sized to the budget from a timed probe, its 10 % floor after that) for **${t.seconds} s of training wall-clock** per run, ` +
    `seeds ${
      t.seeds.join(" and ")
    } (the seed fixes the initial weights and the data order, shared by the three methods). ` +
    `At ${t.evals} evenly spaced points the clock stops and the current weights draw ${t.samples} videos ` +
    `in ${t.sampleSteps} steps (staged K = 3 for TPDiff, full-rate for vanilla), measured against ` +
    `${r.reference.videos} real held-out videos and the generator's ground truth:`,
    "",
    "- **FD** and **MMD**: Fréchet distance between Gaussian fits and the unbiased MMD² (cubic polynomial kernel k(x, y) = (xᵀy/d + 1)³) " +
    "on the features of a fixed encoder (`bench/encoder/`, trained once on the dataset; see its README). " +
    `The *real floor* row measures ${t.samples} other real videos the same way: what a perfect generator scores at this sample size.`,
    "- **tracking**: objects found per frame, the median constant-velocity residual |c₍f+1₎ − 2c_f + c₍f−1₎| along linked tracks (0 for free flight), " +
    "turns per video (a velocity component reversing) and the fraction of turns at a wall (compare the ground-truth row: real balls turn only at walls, but a large ball's centre turns farther out than the 6 px margin).",
    "- **frame differences**: the mean |x₍f+1₎ − x_f| (0–255) and the 1-Wasserstein distance between the samples' and real videos' histograms of it.",
    "",
    "*Time to vanilla's final FD* is when the method's seed-mean FD curve first reaches vanilla's seed-mean FD at the end of its budget " +
    '(linear interpolation between evaluations; "≤" when the first evaluation is already there; "not reached" if it never gets there within the budget). ' +
    "FD on 48 samples is noisy and vanilla's curve need not fall monotonically, so *… best FD* uses vanilla's best seed-mean FD at any evaluation " +
    "instead, and *… final MMD* the same rule as the first on MMD².",
    "",
  ];
}

/** The seed mean of a measure at a curve's last evaluation. */
const lastMean = (c: Curve, g: (q: Quality) => number) =>
  mean(c.runs.map((x) => g(x.evals.at(-1)!.quality)));

/** Vanilla's targets for one form: its final FD and MMD², its best FD and its budget. */
interface Targets {
  fd: number;
  mmd: number;
  bestFd: number;
  budget: number;
}

/** When a curve first reaches a target: "≤" when already at the first evaluation. */
function whenReached(c: Curve, values: number[], target: number, budget: number): string {
  const t = timeToReach(c.seconds, values, target);
  if (t === undefined) return "not reached";
  const le = values[0] <= target ? "≤ " : "";
  return `${le}${t.toFixed(0)} s (${le}${(t / budget).toFixed(2)}×)`;
}

/** One form's table, plot, HTML section and time-to-target summary. */
function trainingForm(r: BenchResults, form: DiffusionForm): Part {
  const cs = curves(r.training, form);
  const { title, id } = FORM_NAMES[form];
  const vanilla = cs.find((c) => c.method === "vanilla")!;
  const targets: Targets = {
    fd: vanilla.fd.at(-1)!,
    mmd: vanilla.mmd.at(-1)!,
    bestFd: Math.min(...vanilla.fd),
    budget: vanilla.seconds.at(-1)!,
  };
  const rows = cs.map((c) => methodRow(c, targets));
  const name = `training-${id}.svg`;
  return part({
    md: [
      `### ${title}`,
      "",
      mdTable(TRAINING_COLUMNS, [...rows, ...realRows(r)]),
      "",
      `![FD against wall-clock, ${id}](benchmarks/${name})`,
      "",
    ],
    svgs: { [name]: trainingSvg(cs, form, targets, r.sizes.training.seeds.length) },
    sections: [trainingSection(cs, form)],
    summary: cs.filter((c) => c.method !== "vanilla").map((c, i) =>
      `${id} ${LABEL[c.method]}: vanilla's final FD at ${rows[i + 1][13]}, its best FD at ${
        rows[i + 1][14]
      }, of vanilla's ${targets.budget.toFixed(0)} s`
    ),
  });
}

const TRAINING_COLUMNS = [
  "method",
  "steps in budget",
  "ms / step",
  "FD (seed range)",
  "MMD²",
  "objects / frame",
  "CV residual (px)",
  "turns / video",
  "turns at a wall",
  "permanence",
  "videos with a break",
  "mean abs frame diff",
  "frame-diff W1",
  "time to vanilla's final FD",
  "… best FD",
  "… final MMD",
];

/** A method's row of {@link TRAINING_COLUMNS}. */
function methodRow(c: Curve, targets: Targets): string[] {
  const isVanilla = c.method === "vanilla";
  const when = (values: number[], target: number, self: boolean) =>
    self ? "(the target)" : whenReached(c, values, target, targets.budget);
  const range = (g: (q: Quality) => number) => {
    const v = c.runs.map((x) => g(x.evals.at(-1)!.quality));
    return `${f(mean(v))} (${f(Math.min(...v))}–${f(Math.max(...v))})`;
  };
  const last = (g: (q: Quality) => number) => f(lastMean(c, g));
  return [
    LABEL[c.method],
    f(mean(c.runs.map((x) => x.steps)), 4),
    ms(mean(c.runs.map((x) => x.meanMsPerStep))),
    range((q) => q.fd),
    range((q) => q.mmd),
    last((q) => q.motion.objectsPerFrame),
    last((q) => q.motion.residualMedian),
    last((q) => q.motion.turnsPerVideo),
    last((q) => q.motion.wallTurnFraction),
    last((q) => q.motion.permanence),
    last((q) => q.motion.brokenVideos),
    last((q) => q.diffMean),
    last((q) => q.diffW1),
    when(c.fd, targets.fd, isVanilla),
    when(c.fd, targets.bestFd, isVanilla && c.fd.at(-1) === targets.bestFd),
    when(c.mmd, targets.mmd, isVanilla),
  ];
}

/** The reference rows of {@link TRAINING_COLUMNS}: the real floor, real videos and ground truth. */
function realRows(r: BenchResults): string[][] {
  const row = (
    name: string,
    q: { fd?: number; mmd?: number; motion: MotionStats; diffMean?: number; diffW1?: number },
  ) => [
    name,
    "–",
    "–",
    f(q.fd),
    f(q.mmd),
    f(q.motion.objectsPerFrame),
    f(q.motion.residualMedian),
    f(q.motion.turnsPerVideo),
    f(q.motion.wallTurnFraction),
    f(q.motion.permanence),
    f(q.motion.brokenVideos),
    f(q.diffMean),
    f(q.diffW1),
    "–",
    "–",
    "–",
  ];
  return [
    row(`real floor (${r.sizes.training.samples} real videos)`, r.reference.floor),
    row("real videos (the reference), detected", {
      motion: r.reference.real,
      diffMean: r.reference.realDiffMean,
    }),
    row("ground truth (tracks)", { motion: r.reference.truth }),
  ];
}

function trainingSvg(cs: Curve[], form: DiffusionForm, targets: Targets, seeds: number): string {
  const lines: SvgSeries[] = cs.map((c, i) => ({
    name: LABEL[c.method],
    x: c.seconds,
    y: c.fd,
    color: SVG_PALETTE[i],
  }));
  lines.push({
    name: "vanilla's final FD",
    x: [0, targets.budget],
    y: [targets.fd, targets.fd],
    color: "#999999",
    dash: true,
  });
  return svgLineChart(lines, {
    title: `${FORM_NAMES[form].title}: FD against training wall-clock (mean of ${seeds} seeds)`,
    xLabel: "training seconds",
    yLabel: "FD (encoder features)",
    width: 760,
  });
}

function trainingSection(cs: Curve[], form: DiffusionForm): ReportSection {
  const { id } = FORM_NAMES[form];
  return {
    heading: `2. Training, ${id}`,
    table: {
      columns: [
        "method",
        "steps",
        "ms/step",
        "FD",
        "MMD²",
        "objects/frame",
        "CV residual",
        "turns/video",
        "at a wall",
        "Δ mean",
        "Δ W1",
      ],
      rows: cs.map((c) => [
        LABEL[c.method],
        mean(c.runs.map((x) => x.steps)),
        mean(c.runs.map((x) => x.meanMsPerStep)),
        ...[
          (q: Quality) => q.fd,
          (q: Quality) => q.mmd,
          (q: Quality) => q.motion.objectsPerFrame,
          (q: Quality) => q.motion.residualMedian,
          (q: Quality) => q.motion.turnsPerVideo,
          (q: Quality) => q.motion.wallTurnFraction,
          (q: Quality) => q.diffMean,
          (q: Quality) => q.diffW1,
        ].map((g) => lastMean(c, g)),
      ]),
    },
    figures: [
      curveFigure(cs, (c) => c.fd, `${id}: FD against training seconds`, "FD"),
      curveFigure(cs, (c) => c.mmd, `${id}: MMD² against training seconds`, "MMD²"),
    ],
  };
}

/** Part 3: what the assignment costs against a training step. */
function alignmentPart(r: BenchResults): Part {
  const stepOf = (method: Method) =>
    mean(
      r.training.filter((x) => x.form === "flow-matching" && x.method === method).map((x) =>
        x.meanMsPerStep
      ),
    );
  const stepMs = stepOf("tpdiff-align"), vanillaMs = stepOf("vanilla");
  const trainBatch = 8; // train-small's batch, at which part 2's steps were timed
  const at8 = r.alignment.find((a) => a.batch === trainBatch);
  const share = (a: AlignmentRow, of: number) =>
    a.batch === trainBatch ? `${(100 * a.total / of).toFixed(2)} %` : "–";
  return part({
    md: [
      "## 3. Alignment: what the assignment costs",
      "",
      "`alignNoise` on whole 16 × 32 × 32 training videos (squared-L2 cost matrix, then the exact Jonker–Volgenant " +
      `assignment), median of ${r.sizes.alignment.reps}. The training step it is compared with is the measured mean step of ` +
      `TPDiff + alignment (flow matching) in part 2 at batch ${trainBatch}, ${
        ms(stepMs)
      } ms, which includes it; ` +
      "the larger batches show how the B × B cost matrix grows (the step itself would grow with B too).",
      "",
      mdTable(
        [
          "batch B",
          "alignNoise, ms",
          "cost matrix, ms",
          "assignment, ms",
          "pairing distance saved",
          "of a TPDiff step",
          "of a vanilla step",
        ],
        r.alignment.map((a) => [
          a.batch,
          f(a.total),
          f(a.cost),
          f(a.assignment),
          `${(100 * a.gain).toFixed(2)} %`,
          share(a, stepMs),
          share(a, vanillaMs),
        ]),
      ),
      "",
    ],
    summary: at8
      ? [
        `alignment: ${f(at8.total)} ms at B = 8 = ${
          (100 * at8.total / stepMs).toFixed(2)
        } % of a TPDiff training step`,
      ]
      : [],
    sections: [{
      heading: "3. Alignment",
      table: {
        columns: ["B", "ms", "cost matrix ms", "assignment ms"],
        rows: r.alignment.map((a) => [a.batch, a.total, a.cost, a.assignment]),
      },
    }],
  });
}

const ratio = (a?: number, b?: number) =>
  a !== undefined && b !== undefined ? `${(a / b).toFixed(2)}×` : "–";

/** Part 4: the same training step on PyTorch, on wasm and on native kernels. */
function torchPart(r: BenchResults): Part {
  const tr = r.torch;
  const both = tr.rows.every((x) => x.wasm !== undefined && x.native !== undefined);
  if (!(tr.available && both)) return part({ md: torchText(tr) });
  const v = tr.rows.find((x) => x.frames === 16)!;
  return part({
    md: torchText(tr),
    summary: [
      `PyTorch: 16-frame step native ${ms(v.native!)} ms, wasm ${ms(v.wasm!)} ms, PyTorch ${
        ms(v.torch!)
      } ms; native ÷ PyTorch ${ratio(v.native, v.torch)}, wasm ÷ native ${ratio(v.wasm, v.native)}`,
    ],
    sections: [{
      heading: "4. PyTorch",
      table: {
        columns: ["frames", "wasm ms", "native ms", "PyTorch ms", "native ÷ PyTorch"],
        rows: tr.rows.map((x) => [x.frames, x.wasm!, x.native!, x.torch!, x.native! / x.torch!]),
      },
    }],
  });
}

function torchText(tr: TorchResult): string[] {
  const msOr = (v?: number) => v !== undefined ? ms(v) : "–";
  return [
    "## 4. Throughput against PyTorch, on wasm and on native kernels",
    "",
    "The same denoiser's training step (forward, MSE, backward, clipping, Adam, EMA) at batch 8, in our stack " +
    "on the wasm backend and on `native` (wasm with oneDNN convolutions and matmul, fused group norm + SiLU) " +
    `and in \`bench/torch_reference.py\` (the same U-Net layer for layer; ${
      tr.parameters ? `${tr.parameters.toLocaleString("en")} parameters, equal to ours` : "not run"
    }), ` +
    "PyTorch on 2 threads with the stable-malloc settings of DESIGN.md. Ours also prepares the batch (stage maths and " +
    "alignment) inside the step; PyTorch's only interpolates. 16 frames is a vanilla step (and stage 1), 8 and 4 are " +
    "stages 2 and 3. All measured in this run, one after the other.",
    "",
    mdTable(
      [
        "frames",
        "wasm, ms / step",
        "native, ms / step",
        "PyTorch, ms / step",
        "native ÷ PyTorch",
        "wasm ÷ native",
      ],
      tr.rows.map((x) => [
        x.frames,
        msOr(x.wasm),
        msOr(x.native),
        msOr(x.torch),
        ratio(x.native, x.torch),
        ratio(x.wasm, x.native),
      ]),
    ),
    "",
    ...(tr.sampling?.wasm && tr.sampling?.native
      ? [
        `Sampling 8 videos with 30 staged steps (K = 3): wasm ${ms(tr.sampling.wasm)} ms, native ${
          ms(tr.sampling.native)
        } ms (${
          ratio(tr.sampling.wasm, tr.sampling.native)
        } faster). Kernel calls in one 16-frame ` +
        `training step: wasm ${tr.kernels?.wasm}, native ${tr.kernels?.native}.`,
        "",
      ]
      : []),
    ...(tr.nativeUnavailable ? [`Native not measured: ${tr.nativeUnavailable}.`, ""] : []),
    ...(tr.available ? [] : [`PyTorch not measured: ${tr.reason}.`, ""]),
  ];
}

function reproducePart(): Part {
  return part({
    md: [
      "## Reproduce",
      "",
      "```sh",
      "deno task bench            # this document: 38 minutes on a 2-core VM (native)",
      "deno task bench --quick    # every part at tiny size in under 3 minutes (CI runs it)",
      "deno task bench:encoder    # retrains the committed encoder (not needed to run the benchmark)",
      "```",
      "",
      "PyTorch comes from Debian: `apt-get install -y --no-install-recommends python3-torch`; without it part 4 is " +
      "reported as not measured. An interrupted run continues from its finished units (`out/bench-cache/`); " +
      "`--fresh` starts over.",
      "",
    ],
  });
}
