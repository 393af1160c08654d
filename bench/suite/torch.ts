/**
 * Throughput against PyTorch: the same denoiser's training step in `bench/torch_reference.py`
 * (Debian's python3-torch on the CPU, 2 threads), timed in the same run as ours.
 *
 * @module
 */
import { initBackend } from "../../lib/nn/mod.ts";
import { toModelSpace } from "../../lib/data/mod.ts";
import { TRAIN_SMALL, trainersByStage, trainSmallData } from "../../tasks/defaults.ts";
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
  /** Rows: frames (16 = vanilla and stage 1, 8 = stage 2, 4 = stage 3), ms per step each. */
  rows: { frames: number; ours: number; torch?: number }[];
}

/** The environment the reference runs with (DESIGN.md: stable malloc, two threads). */
export const TORCH_ENV = {
  OMP_NUM_THREADS: "2",
  MALLOC_MMAP_THRESHOLD_: "33554432",
  MALLOC_TRIM_THRESHOLD_: "100000000000",
};

/**
 * Times our training step at 16, 8 and 4 frames, then PyTorch's.
 *
 * @param rounds timed steps per shape
 * @returns the comparison
 */
export async function runTorch(rounds: number): Promise<TorchResult> {
  const backend = await initBackend();
  const data = await trainSmallData();
  const x0 = toModelSpace(data, Array.from({ length: TRAIN_SMALL.batch }, (_, i) => i));
  const { vanilla, perStage } = trainersByStage();
  const ours: Record<number, number[]> = { 16: [], 8: [], 4: [] };
  const byFrames: [number, (typeof vanilla)][] = [[16, vanilla], [8, perStage[1]], [
    4,
    perStage[0],
  ]];
  for (const [, t] of byFrames) await t.trainStep(x0);
  for (let r = 0; r < rounds; r++) {
    for (const [frames, t] of byFrames) {
      const t0 = performance.now();
      await t.trainStep(x0);
      ours[frames].push(performance.now() - t0);
    }
  }
  const ourParameters = vanilla.model.params.count();
  const result: TorchResult = {
    available: false,
    ourParameters,
    backend: backend.description,
    rows: [16, 8, 4].map((frames) => ({ frames, ours: median(ours[frames]) })),
  };
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
    return { ...result, reason: `/usr/bin/python3 could not start (${(error as Error).message})` };
  }
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) {
    if (/No module named 'torch'/.test(stderr)) {
      return {
        ...result,
        reason:
          "PyTorch is not installed: apt-get install -y --no-install-recommends python3-torch",
      };
    }
    throw new Error(`bench/torch_reference.py failed:\n${stderr}`);
  }
  const torch = JSON.parse(new TextDecoder().decode(output.stdout));
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
