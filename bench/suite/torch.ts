/**
 * Throughput against PyTorch: the same denoiser's training step in `bench/torch_reference.py`
 * (Debian's python3-torch on the CPU, 2 threads), timed in the same run as ours.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  BackendUnavailableError,
  createDenoiser,
  type Denoiser,
  initBackend,
  modelPredict,
  planForTraining,
  TRAIN_SMALL,
  type Trainer,
  trainersByStage,
  trainSmallData,
  trainSmallModel,
} from "../../lib/nn/mod.ts";
import { createRng, sampleStaged } from "../../lib/mod.ts";
import { toModelSpace } from "../../lib/data/mod.ts";
import { median } from "./util.ts";

/** The comparison. */
export interface TorchResult {
  /** Whether PyTorch ran; otherwise `reason` says why not. */
  available: boolean;
  /** Why it did not run. */
  reason?: string;
  /** PyTorch's version and threads. */
  torch?: string;
  /** Threads PyTorch used. */
  threads?: number;
  /** Parameters of the PyTorch model (must equal ours). */
  parameters?: number;
  /** Ours. */
  ourParameters: number;
  /** Our backend. */
  backend: string;
  /**
   * Rows: frames (16 = vanilla and stage 1, 8 = stage 2, 4 = stage 3), ms per step each: `ours`
   * on the default backend, and each of wasm and native where it runs.
   */
  rows: { frames: number; ours: number; torch?: number; wasm?: number; native?: number }[];
  /** Sampling 8 videos with 30 staged steps (K = 3), ms, on each backend that runs. */
  sampling?: { wasm?: number; native?: number };
  /** Kernel calls in one 16-frame training step, per backend. */
  kernels?: { wasm?: number; native?: number };
  /** Why native was not measured, when it was not. */
  nativeUnavailable?: string;
}

/** The environment the reference runs with (DESIGN.md: stable malloc, two threads). */
export const TORCH_ENV = {
  OMP_NUM_THREADS: "2",
  MALLOC_MMAP_THRESHOLD_: "33554432",
  MALLOC_TRIM_THRESHOLD_: "100000000000",
};

/**
 * Times our training step at 16, 8 and 4 frames on wasm and on native (where oneDNN loads), the
 * sampling of 8 videos on each, and the kernel calls of one step; then PyTorch's step.
 *
 * @param rounds timed steps per shape
 * @returns the comparison
 */
export async function runTorch(rounds: number): Promise<TorchResult> {
  const backend = await initBackend();
  const { vanilla, perStage } = trainersByStage();
  const ours = await timeOurBackends(rounds, { vanilla, perStage });
  await initBackend(backend.requested);
  const ourParameters = vanilla.model.params.count();
  const own = backend.name === "native" ? ours.timings.native : ours.timings.wasm;
  const result: TorchResult = {
    available: false,
    ourParameters,
    backend: backend.description,
    rows: [16, 8, 4].map((frames) => ({
      frames,
      ours: median(own[frames]),
      ...(ours.timings.wasm ? { wasm: median(ours.timings.wasm[frames]) } : {}),
      ...(ours.timings.native ? { native: median(ours.timings.native[frames]) } : {}),
    })),
    sampling: ours.sampling,
    kernels: ours.kernels,
    ...(ours.nativeUnavailable ? { nativeUnavailable: ours.nativeUnavailable } : {}),
  };
  const torch = await runTorchReference(rounds);
  if ("reason" in torch) return { ...result, reason: torch.reason };
  if (torch.parameters !== ourParameters) {
    throw new Error(
      `the PyTorch model has ${torch.parameters} parameters, ours ${ourParameters}: the architectures differ`,
    );
  }
  return {
    ...result,
    available: true,
    torch: torch.torch,
    threads: torch.threads,
    parameters: torch.parameters,
    rows: result.rows.map((r) => ({ ...r, torch: torch.ms[String(r.frames)] })),
  };
}

/** Our step times by backend and frames, sampling times and kernel calls per step. */
interface OurTimings {
  timings: Record<string, Record<number, number[]>>;
  sampling: Record<string, number>;
  kernels: Record<string, number>;
  nativeUnavailable?: string;
}

/**
 * The same trainers on each backend in turn (native shares wasm's instance, so the weights stay
 * where they are); rounds alternate between the shapes so that drift hits all alike.
 */
async function timeOurBackends(
  rounds: number,
  trainers: ReturnType<typeof trainersByStage>,
): Promise<OurTimings> {
  const data = await trainSmallData();
  const x0 = toModelSpace(data, Array.from({ length: TRAIN_SMALL.batch }, (_, i) => i));
  const { vanilla, perStage } = trainers;
  const byFrames: [number, Trainer][] = [[16, vanilla], [8, perStage[1]], [4, perStage[0]]];
  const out: OurTimings = { timings: {}, sampling: {}, kernels: {} };
  const sampler = createDenoiser(trainSmallModel(), createRng(3));
  for (const name of ["wasm", "native"] as const) {
    try {
      await initBackend(name);
    } catch (error) {
      if (!(error instanceof BackendUnavailableError)) throw error;
      out.nativeUnavailable = error.message;
      continue;
    }
    const ms: Record<number, number[]> = { 16: [], 8: [], 4: [] };
    for (const [, t] of byFrames) await t.trainStep(x0);
    out.kernels[name] = (await tf.profile(async () => {
      await vanilla.trainStep(x0);
    })).kernels.length;
    for (let r = 0; r < rounds; r++) {
      for (const [frames, t] of byFrames) {
        const t0 = performance.now();
        await t.trainStep(x0);
        ms[frames].push(performance.now() - t0);
      }
    }
    out.timings[name] = ms;
    out.sampling[name] = await timeSampling(sampler, rounds);
  }
  sampler.params.dispose();
  return out;
}

/** The median time to draw 8 videos with 30 staged steps. */
async function timeSampling(sampler: Denoiser, rounds: number): Promise<number> {
  const plan = planForTraining(TRAIN_SMALL, 30);
  const draws: number[] = [];
  for (let r = 0; r < Math.max(2, Math.ceil(rounds / 2)); r++) {
    const t0 = performance.now();
    await sampleStaged(plan, modelPredict(sampler, plan), {
      prediction: "stage-velocity",
      start: { batch: 8, height: sampler.config.height, width: sampler.config.width },
      seed: r,
    });
    draws.push(performance.now() - t0);
  }
  return median(draws);
}

/** What bench/torch_reference.py reports, or why it could not run. */
type TorchReference =
  | { torch: string; threads: number; parameters: number; ms: Record<string, number> }
  | { reason: string };

/** Runs bench/torch_reference.py with Debian's PyTorch on the same shapes. */
async function runTorchReference(rounds: number): Promise<TorchReference> {
  const script = new URL("../torch_reference.py", import.meta.url).pathname;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("/usr/bin/python3", {
      args: [
        script,
        "--frames",
        "16,8,4",
        "--rounds",
        String(rounds),
        "--batch",
        String(TRAIN_SMALL.batch),
      ],
      env: TORCH_ENV,
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    return { reason: `/usr/bin/python3 could not start (${(error as Error).message})` };
  }
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) {
    if (/No module named 'torch'/.test(stderr)) {
      return {
        reason:
          "PyTorch is not installed: apt-get install -y --no-install-recommends python3-torch",
      };
    }
    throw new Error(`bench/torch_reference.py failed:\n${stderr}`);
  }
  return JSON.parse(new TextDecoder().decode(output.stdout));
}
