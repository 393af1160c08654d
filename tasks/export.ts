/**
 * `deno task export --checkpoint RUN --out DIR`: writes a sampling-only copy of a train-small
 * checkpoint: the EMA weights with the configs, step and extra data, a quarter of the full size.
 * `deno task sample` and the notebooks load it like any checkpoint; it cannot resume training.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { removeStaleTemporaries, withLock } from "../lib/data/mod.ts";
import {
  createDenoiser,
  GROUPS,
  initBackend,
  readCheckpoint,
  restoreTrainer,
  saveCheckpoint,
  Trainer,
} from "../lib/nn/mod.ts";
import { createRng } from "../lib/mod.ts";
import { type FlagSpec, helpText, parseFlags, runTask, UsageError } from "../lib/cli.ts";
import { findRun, inspectOutput, isOutputOf } from "./outputs.ts";

const FLAGS: Record<string, FlagSpec> = {
  checkpoint: { type: "string", help: "a run folder or its checkpoint/ folder (required)" },
  out: {
    type: "string",
    help: "a new or empty folder to write (required; an earlier export there needs --force)",
  },
  force: { type: "boolean", help: "replace an earlier export at --out" },
  help: { type: "boolean", help: "show this help" },
};

/** An export folder holds exactly what {@link saveCheckpoint} writes, with EMA tensors only. */
async function isEarlierExport(dir: string): Promise<boolean> {
  if (!isOutputOf(dir, "checkpoint.json", /^(checkpoint\.json|tensors\.bin)$/)) return false;
  try {
    const { values } = await readCheckpoint(dir);
    return GROUPS.every((g) => (g === "ema") === values[g].size > 0);
  } catch {
    return false;
  }
}

async function main(): Promise<number> {
  const flags = parseFlags(Deno.args, FLAGS);
  const usage = "deno task export --checkpoint RUN --out DIR [--force]";
  if (flags.help) {
    console.log(helpText(usage, FLAGS));
    return 0;
  }
  if (flags.checkpoint === undefined || flags.out === undefined) {
    throw new UsageError(`--checkpoint and --out are both required: ${usage}`);
  }
  const path = String(flags.checkpoint);
  const { runDir, checkpointDir } = findRun(path) ?? { runDir: path, checkpointDir: path };
  const { path: out, state } = inspectOutput("out", String(flags.out));
  // Never write over, into the place of, or above the checkpoint being read or its run.
  for (const source of [resolve(runDir), resolve(checkpointDir)]) {
    if (out === source || source.startsWith(`${out}/`)) {
      throw new UsageError(
        `--out ${flags.out} would replace ${source}, which holds the checkpoint being exported; ` +
          `choose a folder outside it`,
      );
    }
  }
  if (state === "full") {
    if (!(await isEarlierExport(out))) {
      throw new UsageError(
        `--out ${flags.out} already holds files that are not an export; choose a new or empty folder`,
      );
    }
    if (!flags.force) {
      throw new UsageError(
        `--out ${flags.out} holds an earlier export; add --force to replace it`,
      );
    }
  }
  const checkpoint = await readCheckpoint(checkpointDir);
  await initBackend("cpu");
  const { train, model } = checkpoint.manifest;
  const trainer = new Trainer(train, createDenoiser(model, createRng(0)), createRng(0));
  restoreTrainer(trainer, checkpoint);
  await Deno.mkdir(dirname(out), { recursive: true });
  await withLock(`${out}.lock`, "export", async () => {
    await removeStaleTemporaries(out, { locked: true });
    await saveCheckpoint(out, trainer, checkpoint.manifest.extra, { groups: ["ema"] });
  });
  const bytes = (await Deno.stat(`${out}/tensors.bin`)).size;
  console.log(
    `wrote ${flags.out}: EMA weights of step ${trainer.step} (${(bytes / 1e6).toFixed(2)} MB), ` +
      `sampling only`,
  );
  return 0;
}

if (import.meta.main) await runTask(main);
