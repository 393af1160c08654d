/**
 * `deno task export --checkpoint RUN --out DIR`: writes a sampling-only copy of a train-small
 * checkpoint: the EMA weights with the configs, step and extra data, a quarter of the full size.
 * `deno task sample` and the notebooks load it like any checkpoint; it cannot resume training.
 *
 * @module
 */
import {
  createDenoiser,
  initBackend,
  readCheckpoint,
  restoreTrainer,
  saveCheckpoint,
  Trainer,
} from "../lib/nn/mod.ts";
import { createRng } from "../lib/mod.ts";
import { type FlagSpec, helpText, parseFlags, runTask, UsageError } from "./cli.ts";
import { findRun } from "./outputs.ts";

const FLAGS: Record<string, FlagSpec> = {
  checkpoint: { type: "string", help: "a run folder or its checkpoint/ folder (required)" },
  out: { type: "string", help: "the folder to write (required; replaced as a whole)" },
  help: { type: "boolean", help: "show this help" },
};

async function main(): Promise<number> {
  const flags = parseFlags(Deno.args, FLAGS);
  const usage = "deno task export --checkpoint RUN --out DIR";
  if (flags.help) {
    console.log(helpText(usage, FLAGS));
    return 0;
  }
  if (flags.checkpoint === undefined || flags.out === undefined) {
    throw new UsageError(`--checkpoint and --out are both required: ${usage}`);
  }
  const path = String(flags.checkpoint);
  const { checkpointDir } = await findRun(path) ?? { checkpointDir: path };
  const checkpoint = await readCheckpoint(checkpointDir);
  await initBackend("cpu");
  const { train, model } = checkpoint.manifest;
  const trainer = new Trainer(train, createDenoiser(model, createRng(0)), createRng(0));
  restoreTrainer(trainer, checkpoint);
  const out = String(flags.out);
  await saveCheckpoint(out, trainer, checkpoint.manifest.extra, { groups: ["ema"] });
  const bytes = (await Deno.stat(`${out}/tensors.bin`)).size;
  console.log(
    `wrote ${out}: EMA weights of step ${trainer.step} (${(bytes / 1e6).toFixed(2)} MB), ` +
      `sampling only`,
  );
  return 0;
}

if (import.meta.main) await runTask(main);
