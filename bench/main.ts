/**
 * `deno task bench`: TPDiff against vanilla diffusion, measured side by side on this machine, and
 * `docs/BENCHMARKS.md` (tables, SVG plots) regenerated from the measurements, with an interactive
 * HTML version under `out/bench/`.
 *
 * 1. inference: staged sampling, K = 2, 3, 4 × three step splits, against vanilla at 10 and 30 steps;
 * 2. training: vanilla, TPDiff without and with alignment, fm and DDIM, two seeds, quality against
 *    wall-clock (tracking, FD and MMD on a committed encoder, frame differences);
 * 3. alignment: the assignment's time per batch, as a fraction of a training step;
 * 4. PyTorch: the same denoiser's training step in `bench/torch_reference.py`.
 *
 * `--quick` runs every part at tiny size (under 3 minutes; CI's smoke test) and writes to
 * `out/bench-quick/` instead of `docs/`. Each finished unit is kept in `out/bench-cache/`, so an
 * interrupted run continues where it stopped (`--fresh` starts over).
 *
 * @module
 */
import { writeFileAtomic } from "../lib/data/mod.ts";
import { DIFFUSION_FORMS, initBackend } from "../lib/nn/mod.ts";
import { checkInChromium, loadPlotlySource, renderReport } from "../lib/viz/mod.ts";
import { type FlagSpec, helpText, intFlag, parseFlags, runTask, UsageError } from "../lib/cli.ts";
import { runAlignment } from "./suite/alignment.ts";
import { runInference } from "./suite/inference.ts";
import { loadReference, type Reference } from "./suite/quality.ts";
import { type BenchResults, buildReport, upgradeResults } from "./suite/report.ts";
import { runTorch } from "./suite/torch.ts";
import { METHODS, runTraining, type TrainingRun } from "./suite/training.ts";
import type { Progress } from "./suite/util.ts";

const FLAGS: Record<string, FlagSpec> = {
  quick: {
    type: "boolean",
    help: "every part at tiny size (under 3 minutes), written to out/bench-quick/",
  },
  out: {
    type: "string",
    help: "where BENCHMARKS.md and its plots go",
    default: "docs (quick: out/bench-quick)",
  },
  seconds: { type: "string", help: "training budget per run, seconds", default: "150 (quick: 3)" },
  fresh: { type: "boolean", help: "ignore finished units kept from an interrupted run" },
  "report-only": {
    type: "boolean",
    help: "measure nothing: rebuild the documents from <out>/benchmarks/results.json",
  },
  help: { type: "boolean", help: "show this help" },
};

/** The sizes of a full and a quick run. */
const SIZES = {
  full: {
    inference: { batch: 8, totals: [10, 30], rounds: 5 },
    training: {
      seconds: 150,
      evals: 5,
      samples: 48,
      sampleSteps: 16,
      seeds: [0, 1],
      forms: [...DIFFUSION_FORMS],
    },
    referenceVideos: 512,
    alignment: { batches: [8, 32, 128, 256], reps: 10 },
    torchRounds: 7,
  },
  quick: {
    inference: { batch: 2, totals: [10], rounds: 2 },
    training: {
      seconds: 3,
      evals: 2,
      samples: 8,
      sampleSteps: 6,
      seeds: [0, 1],
      forms: [...DIFFUSION_FORMS],
    },
    referenceVideos: 64,
    alignment: { batches: [8, 32], reps: 3 },
    torchRounds: 2,
  },
};

interface Cache {
  key: string;
  units: Record<string, { at: string; value: unknown }>;
}

type Sizes = (typeof SIZES)["full"];

/** Runs one named unit of work, or returns its value kept from an interrupted run. */
type Unit = <T>(name: string, run: () => Promise<T>) => Promise<T>;

async function main(): Promise<number> {
  const flags = parseFlags(Deno.args, FLAGS);
  if (flags.help) {
    console.log(helpText("deno task bench [--quick] [--seconds S] [--out DIR] [--fresh]", FLAGS));
    return 0;
  }
  const mode = flags.quick ? "quick" : "full";
  const sizes: Sizes = structuredClone(SIZES[mode]);
  sizes.training.seconds = intFlag("seconds", flags.seconds, sizes.training.seconds, 1, 36_000);
  const outDir = String(flags.out ?? (mode === "quick" ? "out/bench-quick" : "docs"));
  const started = performance.now();
  const progress: Progress = (message) => {
    const s = Math.round((performance.now() - started) / 1000);
    console.log(`[${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}] ${message}`);
  };
  if (flags["report-only"]) return await reportOnly(outDir, progress);
  const backend = await initBackend();
  progress(
    `deno task bench (${mode}) on ${backend.description}; results to ${outDir}/BENCHMARKS.md`,
  );
  const { unit, reused } = await unitCache(mode, sizes, flags.fresh === true, progress);
  const measured = await measure(sizes, unit, progress);
  const { reference } = measured;
  const results: BenchResults = {
    mode,
    date: new Date().toISOString(),
    seconds: (performance.now() - started) / 1000,
    machine: await machine(backend.description),
    sizes,
    inference: measured.inference,
    training: measured.runs,
    reference: {
      videos: reference.videos,
      floor: reference.floor,
      real: reference.realMotion,
      truth: reference.truthMotion,
      realDiffMean: reference.realDifferences.meanAbs,
      encoder: reference.encoderTraining,
    },
    alignment: measured.alignment,
    torch: measured.torch,
    reused,
  };
  return await writeDocuments(results, outDir, progress);
}

/** Rebuilds the documents from a saved results.json. */
async function reportOnly(outDir: string, progress: Progress): Promise<number> {
  const path = `${outDir}/benchmarks/results.json`;
  let saved: BenchResults;
  try {
    saved = upgradeResults(JSON.parse(await Deno.readTextFile(path)));
  } catch (error) {
    throw new UsageError(
      `--report-only needs ${path} from an earlier run (${(error as Error).message})`,
    );
  }
  return await writeDocuments(saved, outDir, progress);
}

/** Finished units survive an interruption, for the same sizes only (`--fresh` ignores them). */
async function unitCache(
  mode: string,
  sizes: Sizes,
  fresh: boolean,
  progress: Progress,
): Promise<{ unit: Unit; reused: string[] }> {
  const cachePath = `out/bench-cache/${mode}.json`;
  const key = JSON.stringify(sizes);
  let cache: Cache = { key, units: {} };
  if (!fresh) {
    try {
      const old = JSON.parse(await Deno.readTextFile(cachePath)) as Cache;
      if (old.key === key) cache = old;
    } catch { /* nothing kept */ }
  }
  const reused: string[] = [];
  const unit: Unit = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const kept = cache.units[name];
    if (kept) {
      reused.push(`${name} (${kept.at})`);
      progress(`${name}: kept from ${kept.at}`);
      return kept.value as T;
    }
    const value = await run();
    cache.units[name] = { at: new Date().toISOString(), value };
    await Deno.mkdir("out/bench-cache", { recursive: true });
    await writeFileAtomic(cachePath, JSON.stringify(cache));
    return value;
  };
  return { unit, reused };
}

/** The four parts, in order, each unit kept as it finishes. */
async function measure(sizes: Sizes, unit: Unit, progress: Progress) {
  const inference = await unit("inference", () => {
    progress(
      `1/4 inference: K = 1–4 × splits at ${
        sizes.inference.totals.join(" and ")
      } steps, ${sizes.inference.rounds} rounds`,
    );
    return runInference(sizes.inference, progress);
  });
  progress("2/4 training: measuring the real-data reference");
  const reference = await loadReference(sizes.referenceVideos, sizes.training.samples);
  const runs = await trainingRuns(sizes, reference, unit, progress);
  const alignment = await unit("alignment", () => {
    progress(`3/4 alignment at B = ${sizes.alignment.batches.join(", ")}`);
    return runAlignment(sizes.alignment.batches, sizes.alignment.reps);
  });
  const torch = await unit("torch", () => {
    progress(`4/4 PyTorch reference, ${sizes.torchRounds} rounds`);
    return runTorch(sizes.torchRounds);
  });
  return { inference, reference, runs, alignment, torch };
}

/** Every method for every form and seed, at the same wall-clock budget. */
async function trainingRuns(
  sizes: Sizes,
  reference: Reference,
  unit: Unit,
  progress: Progress,
): Promise<TrainingRun[]> {
  const runs: TrainingRun[] = [];
  const total = sizes.training.forms.length * METHODS.length * sizes.training.seeds.length;
  for (const seed of sizes.training.seeds) {
    for (const form of sizes.training.forms) {
      for (const method of METHODS) {
        runs.push(
          await unit(`train:${form}:${method}:${seed}`, () => {
            progress(
              `2/4 training run ${
                runs.length + 1
              }/${total}: ${form}, ${method}, seed ${seed}, ${sizes.training.seconds} s`,
            );
            return runTraining(form, method, seed, sizes.training, reference, progress);
          }),
        );
      }
    }
  }
  return runs;
}

/** Writes BENCHMARKS.md, its plots and results.json under `outDir`, and the HTML report. */
async function writeDocuments(
  results: BenchResults,
  outDir: string,
  progress: Progress,
): Promise<number> {
  const report = buildReport(results);
  await Deno.mkdir(`${outDir}/benchmarks`, { recursive: true });
  for (const [name, svg] of Object.entries(report.svgs)) {
    await writeFileAtomic(`${outDir}/benchmarks/${name}`, svg);
  }
  await writeFileAtomic(
    `${outDir}/benchmarks/results.json`,
    JSON.stringify(results, null, 1) + "\n",
  );
  await writeFileAtomic(`${outDir}/BENCHMARKS.md`, report.markdown);
  const htmlDir = results.mode === "quick" ? outDir : "out/bench";
  await Deno.mkdir(htmlDir, { recursive: true });
  await writeFileAtomic(
    `${htmlDir}/BENCHMARKS.html`,
    renderReport({ ...report.html, plotly: await loadPlotlySource() }),
  );
  progress(
    `wrote ${outDir}/BENCHMARKS.md, ${
      Object.keys(report.svgs).length
    } plots and ${htmlDir}/BENCHMARKS.html`,
  );
  const browser = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
  if (await Deno.stat(browser).then(() => true, () => false)) {
    const check = await checkInChromium(`${htmlDir}/BENCHMARKS.html`, { browser });
    progress(
      `headless Chromium: ${check.plotsDrawn} of ${check.plotsExpected} plots drawn, ${check.errors.length} errors`,
    );
    if (check.errors.length > 0 || check.plotsDrawn !== check.plotsExpected) {
      console.error(`error: the HTML report does not render: ${check.errors.join(" | ")}`);
      return 1;
    }
  }
  for (const line of report.summary) console.log(line);
  return 0;
}

/** What the numbers were measured on. */
async function machine(backend: string): Promise<Record<string, string | number>> {
  let cpu = "unknown";
  try {
    // Deno reads /proc only with --allow-all; cat needs just --allow-run.
    const out = await new Deno.Command("cat", {
      args: ["/proc/cpuinfo"],
      stdout: "piped",
      stderr: "null",
    }).output();
    cpu = new TextDecoder().decode(out.stdout).match(/model name\s*:\s*(.*)/)?.[1] ?? cpu;
  } catch { /* not Linux */ }
  let commit = "unknown";
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (out.success) commit = new TextDecoder().decode(out.stdout).trim();
  } catch { /* no git */ }
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    memoryGiB: Number((Deno.systemMemoryInfo().total / 2 ** 30).toFixed(1)),
    os: `${Deno.build.os} ${Deno.build.arch}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    backend,
    commit,
  };
}

if (import.meta.main) await runTask(main);
