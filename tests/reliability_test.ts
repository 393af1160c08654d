/**
 * Runs and files that are never lost: each test reproduces one way a user's work was lost or
 * silently corrupted, and checks that it no longer is.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  acquireLock,
  crc32,
  datasetFileName,
  datasetParams,
  encodeDataset,
  generateDataset,
  locateDir,
  LOCK_STALE_MS,
  LockedError,
  processAlive,
  removeStaleTemporaries,
  writeDirAtomic,
} from "../lib/data/mod.ts";
import {
  CheckpointError,
  createDenoiser,
  denoiserConfig,
  initBackend,
  NonFiniteError,
  readCheckpoint,
  saveCheckpoint,
  type TrainConfig,
  Trainer,
} from "../lib/nn/mod.ts";
import { createRng } from "../lib/mod.ts";
import { exitFor, intFlag, numberFlag, parseFlags, UsageError } from "../lib/cli.ts";
import { spawnTask, task, TINY } from "./task_helpers.ts";
import { assertThrowsWith } from "./helpers.ts";

/** A pid above Linux's largest (2^22): never a live process. */
const DEAD_PID = 99_999_999;

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

function trainSteps(path: string): number[] {
  return Deno.readTextFileSync(path).trim().split("\n").filter((l) => l !== "").map((l) =>
    JSON.parse(l)
  ).filter((r) => r.type === "train").map((r) => r.step);
}

function assertOneLine(r: { code: number; stderr: string }, code: number, pattern: RegExp) {
  assert.equal(r.code, code, r.stderr);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
}

/** A folder with one tiny trained run, `run` (6 steps, checkpoints at 3 and 6). */
async function withRun(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const r = await task("train_small.ts", [...TINY, "--steps=6", "--out=run"], dir);
    assert.equal(r.code, 0, r.stderr);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Rewrites a checkpoint's JSON and returns the original text. */
function editManifest(dir: string, edit: (m: Record<string, unknown>) => unknown): string {
  const path = `${dir}/checkpoint.json`, text = Deno.readTextFileSync(path);
  Deno.writeTextFileSync(path, JSON.stringify(edit(JSON.parse(text))));
  return text;
}

Deno.test("export refuses the run's own folder, its checkpoint, other files, a file and `.`", async () => {
  await withRun(async (dir) => {
    const before = names(`${dir}/run`);
    const metrics = Deno.readTextFileSync(`${dir}/run/metrics.jsonl`);
    Deno.mkdirSync(`${dir}/mine`);
    Deno.writeTextFileSync(`${dir}/mine/notes.txt`, "keep me");
    Deno.writeTextFileSync(`${dir}/file.txt`, "keep me too");
    const cases: [string, RegExp][] = [
      ["run", /would replace .*\/run, which holds the checkpoint being exported/],
      ["run/checkpoint", /would replace .*\/run\/checkpoint, which holds the checkpoint/],
      [".", /--out must name a folder of its own; got "."/],
      ["mine", /--out mine already holds files that are not an export/],
      ["file.txt", /--out file\.txt is a file; name a folder/],
      ["file.txt/sub", /file\.txt is a file, not a folder/],
      ["", /--out must name a folder; got ""/],
    ];
    for (const [out, pattern] of cases) {
      assertOneLine(await task("export.ts", ["--checkpoint=run", `--out=${out}`], dir), 2, pattern);
    }
    assert.deepEqual(names(`${dir}/run`), before);
    assert.equal(Deno.readTextFileSync(`${dir}/run/metrics.jsonl`), metrics);
    assert.equal(Deno.readTextFileSync(`${dir}/mine/notes.txt`), "keep me");
    assert.equal(Deno.readTextFileSync(`${dir}/file.txt`), "keep me too");
    assert.deepEqual(names(dir).filter((n) => n.includes(".tmp-")), []);
    // The run still resumes: its checkpoint holds all four groups.
    const resumed = await task("train_small.ts", ["--resume=run", "--steps=7", "--samples=1"], dir);
    assert.equal(resumed.code, 0, resumed.stderr);

    // An earlier export is replaced only with --force.
    assert.equal((await task("export.ts", ["--checkpoint=run", "--out=small"], dir)).code, 0);
    assertOneLine(
      await task("export.ts", ["--checkpoint=run", "--out=small"], dir),
      2,
      /--out small holds an earlier export; add --force to replace it/,
    );
    const forced = await task("export.ts", ["--checkpoint=run", "--out=small", "--force"], dir);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(names(`${dir}/small`), ["checkpoint.json", "tensors.bin"]);
  });
});

Deno.test("resume into another folder refuses one that holds a run, and carries the log along", async () => {
  await withRun(async (dir) => {
    const other = await task("train_small.ts", [...TINY, "--steps=4", "--out=b"], dir);
    assert.equal(other.code, 0, other.stderr);
    const bCheckpoint = Deno.readFileSync(`${dir}/b/checkpoint/tensors.bin`);
    const bMetrics = Deno.readTextFileSync(`${dir}/b/metrics.jsonl`);
    assertOneLine(
      await task("train_small.ts", ["--resume=run", "--steps=8", "--out=b"], dir),
      2,
      /b already holds a run; continue it with --resume b or choose another --out/,
    );
    assert.deepEqual(Deno.readFileSync(`${dir}/b/checkpoint/tensors.bin`), bCheckpoint);
    assert.equal(Deno.readTextFileSync(`${dir}/b/metrics.jsonl`), bMetrics);
    // A new folder gets the run's log up to the checkpoint, then its own steps: no gap.
    const c = await task("train_small.ts", ["--resume=run", "--steps=8", "--out=c"], dir);
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(trainSteps(`${dir}/c/metrics.jsonl`), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(trainSteps(`${dir}/run/metrics.jsonl`), [1, 2, 3, 4, 5, 6]);
  });
});

Deno.test("a kill between the two renames of a folder write loses nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const write = (text: string) =>
      writeDirAtomic(`${dir}/ck`, async (tmp) => await Deno.writeTextFile(`${tmp}/v`, text));
    await write("one");
    // The state a kill leaves after `ck` → `ck.tmp-P-X.old` and before `ck.tmp-P-X` → `ck`.
    Deno.renameSync(`${dir}/ck`, `${dir}/ck.tmp-${DEAD_PID}-abc.old`);
    Deno.mkdirSync(`${dir}/ck.tmp-${DEAD_PID}-abc`);
    Deno.writeTextFileSync(`${dir}/ck.tmp-${DEAD_PID}-abc/v`, "two");
    // A reader finds the newer complete version without renaming anything.
    assert.equal(locateDir(`${dir}/ck`), `${dir}/ck.tmp-${DEAD_PID}-abc`);
    // An abandoned, unfilled temporary of another dead process is not taken for it.
    Deno.mkdirSync(`${dir}/ck.tmp-${DEAD_PID}-zzz`);
    // Without the folder's lock, young temporaries of processes that cannot be checked are kept.
    if (processAlive(DEAD_PID) === undefined) {
      assert.deepEqual(await removeStaleTemporaries(`${dir}/ck`), []);
    }
    await removeStaleTemporaries(`${dir}/ck`, { locked: true });
    assert.deepEqual(names(dir), ["ck"]);
    assert.equal(Deno.readTextFileSync(`${dir}/ck/v`), "two");
    // Only the old version survived (the kill came before the new one was filled and renamed).
    Deno.renameSync(`${dir}/ck`, `${dir}/ck.tmp-${DEAD_PID}-def.old`);
    assert.equal(locateDir(`${dir}/ck`), `${dir}/ck.tmp-${DEAD_PID}-def.old`);
    await write("three");
    assert.equal(Deno.readTextFileSync(`${dir}/ck/v`), "three");
    await removeStaleTemporaries(`${dir}/ck`, { locked: true });
    assert.deepEqual(names(dir), ["ck"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a run whose checkpoint survives only under its temporary names resumes", async () => {
  await withRun(async (dir) => {
    const ck = `${dir}/run/checkpoint`;
    Deno.renameSync(ck, `${ck}.tmp-${DEAD_PID}-k1.old`);
    const resumed = await task("train_small.ts", ["--resume=run", "--steps=8", "--samples=1"], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /resuming run at step 6 of 8/);
    assert.deepEqual(trainSteps(`${dir}/run/metrics.jsonl`), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(names(`${dir}/run`).filter((n) => n.includes(".tmp-")), []);
    // A fresh run on the folder is still refused: the run is not taken for empty.
    Deno.renameSync(ck, `${ck}.tmp-${DEAD_PID}-k2.old`);
    assertOneLine(
      await task("train_small.ts", [...TINY, "--steps=2", "--out=run"], dir),
      2,
      /run already holds a run/,
    );
    assert.deepEqual(trainSteps(`${dir}/run/metrics.jsonl`), [1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

Deno.test("two runs on one folder: the second refuses with one line; stale locks are taken over", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const args = [...TINY, "--steps=40", "--checkpoint-every=10", "--out=run"];
    const [a, b] = await Promise.all([
      spawnTask("train_small.ts", args, dir).output(),
      spawnTask("train_small.ts", args, dir).output(),
    ]);
    const codes = [a.code, b.code].sort();
    const loser = a.code === 2 ? a : b;
    assert.deepEqual(codes, [0, 2], new TextDecoder().decode(loser.stderr));
    const stderr = new TextDecoder().decode(loser.stderr);
    assert.match(stderr, /is held by process \d+ \(train-small|already holds a run|is not empty/);
    assert.equal(stderr.trim().split("\n").length, 1);
    assert.deepEqual(
      trainSteps(`${dir}/run/metrics.jsonl`),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    assert.ok(!exists(`${dir}/run/.lock`), "the lock is released at the end");

    // A live holder (this test process) blocks; a dead one's lock is taken over.
    Deno.writeTextFileSync(
      `${dir}/run/.lock`,
      JSON.stringify({ pid: Deno.pid, purpose: "train-small", since: "then" }),
    );
    assertOneLine(
      await task("train_small.ts", ["--resume=run", "--steps=41", "--samples=1"], dir),
      2,
      new RegExp(`run/\\.lock is held by process ${Deno.pid} \\(train-small, since then\\)`),
    );
    Deno.writeTextFileSync(`${dir}/run/.lock`, JSON.stringify({ pid: DEAD_PID, purpose: "x" }));
    // Its holder stopped refreshing it long ago (where the pid itself cannot be checked).
    const then = new Date(Date.now() - 2 * LOCK_STALE_MS);
    Deno.utimeSync(`${dir}/run/.lock`, then, then);
    const after = await task("train_small.ts", ["--resume=run", "--steps=41", "--samples=1"], dir);
    assert.equal(after.code, 0, after.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("acquireLock(): one holder at a time, released once, reported with pid and purpose", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const lock = acquireLock(`${dir}/l`, "first");
    assertThrowsWith(() => acquireLock(`${dir}/l`, "second"), /held by process \d+ \(first/);
    try {
      acquireLock(`${dir}/l`, "second");
    } catch (error) {
      assert.ok(error instanceof LockedError);
    }
    lock.release();
    lock.release();
    acquireLock(`${dir}/l`, "third").release();
    assert.deepEqual(names(dir), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("corrupt checkpoint bytes are refused by group; hand edits give one line, exit 2", async () => {
  await withRun(async (dir) => {
    const ck = `${dir}/run/checkpoint`;
    const manifest = JSON.parse(Deno.readTextFileSync(`${ck}/checkpoint.json`));
    const bin = Deno.readFileSync(`${ck}/tensors.bin`);
    const ema = manifest.tensors.find((t: { group: string }) => t.group === "ema");
    const flipped = bin.slice();
    flipped[ema.offset * 4 + 2] ^= 0x10;
    Deno.writeFileSync(`${ck}/tensors.bin`, flipped);
    assertOneLine(
      await task("sample.ts", ["--checkpoint=run", "--count=1", "--out=s"], dir),
      2,
      /tensors\.bin is corrupt in group "ema": its CRC-32 is [0-9a-f]{8}, checkpoint\.json records/,
    );
    assert.ok(!exists(`${dir}/s`), "nothing written");
    Deno.writeFileSync(`${ck}/tensors.bin`, bin);

    const metrics = Deno.readTextFileSync(`${dir}/run/metrics.jsonl`);
    const edits: [(m: Record<string, unknown>) => unknown, RegExp][] = [
      [() => null, /checkpoint\.json must hold a JSON object; got null/],
      [({ model: _, ...m }) => m, /model must be an object; got undefined/],
      [(m) => ({ ...m, rng: null }), /rng must be \{ s: four 32-bit unsigned integers/],
      [(m) => ({ ...m, step: "abc" }), /step must be a non-negative integer; got "abc"/],
      [
        (m) => ({
          ...m,
          tensors: (m.tensors as { group: string }[]).map((t, i) =>
            i === 0 ? { ...t, group: "toString" } : t
          ),
        }),
        /tensors\[0\] must be \{ group: one of weights, ema, adam\.m, adam\.v/,
      ],
      [(m) => ({ ...m, extra: { dataset: 7 } }), /extra must record dataset/],
      [
        (m) => ({ ...m, train: { ...(m.train as object), boundaries: [1.5] } }),
        /train\.boundaries must be absent or 1 number in \(0, 1\); got \[1\.5\]/,
      ],
      [
        (m) => ({ ...m, train: { ...(m.train as object), timeDensity: "cosine" } }),
        /train\.timeDensity must be absent or one of uniform, logit-normal; got "cosine"/,
      ],
    ];
    for (const [edit, pattern] of edits) {
      const original = editManifest(ck, edit);
      assertOneLine(
        await task("train_small.ts", ["--resume=run", "--steps=9", "--samples=1"], dir),
        2,
        pattern,
      );
      assert.equal(Deno.readTextFileSync(`${dir}/run/metrics.jsonl`), metrics, "log untouched");
      Deno.writeTextFileSync(`${ck}/checkpoint.json`, original);
    }
    assertOneLine(
      await task("sample.ts", ["--checkpoint=run/metrics.jsonl", "--count=1", "--out=s"], dir),
      2,
      /run\/metrics\.jsonl: is a file; a checkpoint is a folder/,
    );
  });
});

Deno.test("a checkpoint with non-finite weights is never written, and never sampled", async () => {
  await initBackend("wasm");
  const config: TrainConfig = {
    mode: "pyramid",
    form: "flow-matching",
    stages: 2,
    frames: 4,
    batch: 2,
    steps: 4,
    learningRate: 1e-3,
    warmup: 0,
    clip: 1,
    emaDecay: 0.9,
    align: false,
  };
  const model = createDenoiser(
    denoiserConfig({ height: 16, width: 16, widths: [8, 16], patch: 4 }),
    createRng(1),
  );
  const trainer = new Trainer(config, model, createRng(2));
  const dir = await Deno.makeTempDir();
  try {
    await saveCheckpoint(`${dir}/good`, trainer);
    const [name, variable] = [...model.params.variables][3];
    const poisoned = Float32Array.from(await variable.data() as Float32Array);
    poisoned[1] = NaN;
    tf.tidy(() => variable.assign(tf.tensor(poisoned, variable.shape)));
    await assert.rejects(
      () => saveCheckpoint(`${dir}/good`, trainer),
      (e: Error) => e instanceof NonFiniteError && e.message.includes(`weights/${name} holds NaN`),
    );
    assert.deepEqual(names(dir), ["good"], "the good checkpoint is untouched, no temporaries");
    await readCheckpoint(`${dir}/good`);

    // A diverged checkpoint written by an older build: refused on load, naming the tensor.
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/good/checkpoint.json`));
    const bin = await Deno.readFile(`${dir}/good/tensors.bin`);
    const floats = new Float32Array(bin.buffer);
    const entry = manifest.tensors.find((t: { group: string }) => t.group === "ema");
    floats[entry.offset] = Infinity;
    const emaEnd = Math.max(
      ...manifest.tensors.filter((t: { group: string }) => t.group === "ema").map((
        t: { offset: number; shape: number[] },
      ) => t.offset + t.shape.reduce((a, b) => a * b, 1)),
    );
    manifest.checksums.ema = crc32(floats.subarray(entry.offset, emaEnd));
    await Deno.writeFile(`${dir}/good/tensors.bin`, bin);
    await Deno.writeTextFile(`${dir}/good/checkpoint.json`, JSON.stringify(manifest));
    await assert.rejects(() => readCheckpoint(`${dir}/good`), /ema\/.* holds Infinity at index 0/);
    const r = await task("sample.ts", ["--checkpoint=good", "--count=1", "--out=s"], dir);
    assertOneLine(r, 2, /holds Infinity at index 0 \(a diverged run\)/);
    assert.ok(!exists(`${dir}/s`), "no empty output folder");
  } finally {
    model.params.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a diverging run names the last good checkpoint, or says there is none", async () => {
  await withRun(async (dir) => {
    // Weights scaled by 1e30 are finite but overflow the first forward pass.
    const ck = `${dir}/run/checkpoint`;
    const manifest = JSON.parse(Deno.readTextFileSync(`${ck}/checkpoint.json`));
    const floats = new Float32Array(Deno.readFileSync(`${ck}/tensors.bin`).buffer);
    for (const t of manifest.tensors.filter((t: { group: string }) => t.group === "weights")) {
      const size = t.shape.reduce((a: number, b: number) => a * b, 1);
      for (let i = t.offset; i < t.offset + size; i++) floats[i] = floats[i] * 1e30 || 1e30;
    }
    const ranges = new Map<string, [number, number]>();
    for (const t of manifest.tensors) {
      const size = t.shape.reduce((a: number, b: number) => a * b, 1);
      const [lo, hi] = ranges.get(t.group) ?? [Infinity, -Infinity];
      ranges.set(t.group, [Math.min(lo, t.offset), Math.max(hi, t.offset + size)]);
    }
    for (const [g, [lo, hi]] of ranges) manifest.checksums[g] = crc32(floats.subarray(lo, hi));
    Deno.writeFileSync(`${ck}/tensors.bin`, new Uint8Array(floats.buffer));
    Deno.writeTextFileSync(`${ck}/checkpoint.json`, JSON.stringify(manifest));
    const r = await task("train_small.ts", ["--resume=run", "--steps=9", "--samples=1"], dir);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /non-finite (loss|gradient norm) at step 7/);
    assert.match(r.stderr, /The last good checkpoint is run\/checkpoint \(step 6\)\./);
    assert.deepEqual(trainSteps(`${dir}/run/metrics.jsonl`), [1, 2, 3, 4, 5, 6]);
  });
});

Deno.test("a corrupt, zeroed or extended dataset file is refused, naming the file and section", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const params = datasetParams({
      kind: "balls",
      count: 16,
      frames: 8,
      height: 16,
      width: 16,
      seed: 0,
    });
    const good = encodeDataset(generateDataset(params));
    const path = `data/generated/${datasetFileName(params)}`;
    Deno.mkdirSync(`${dir}/data/generated`, { recursive: true });
    const end = good.length;
    const cases: [(b: Uint8Array) => Uint8Array, RegExp][] = [
      [(b) => (b[2000] ^= 0x01, b), /section pixels is corrupt: its CRC-32 is/],
      [
        (b) => (b.fill(0, end - 600, end - 300), b),
        /section (tracks|bounces|objects)\w* is corrupt/,
      ],
      [(b) => Uint8Array.from([...b, 1, 2, 3]), /3 trailing bytes after the last section/],
    ];
    for (const [damage, pattern] of cases) {
      Deno.writeFileSync(`${dir}/${path}`, damage(good.slice()));
      const r = await task("train_small.ts", [...TINY, "--steps=1", "--out=run"], dir);
      assertOneLine(r, 2, pattern);
      assert.match(r.stderr, new RegExp(datasetFileName(params).replaceAll(".", "\\.")));
      assert.ok(!exists(`${dir}/run`), "no run folder left behind");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("number flags take decimal text only and answer every out-of-range value alike", async () => {
  for (const text of ["0x3", "1e1", " 5 ", "5.0", "", "5x"]) {
    assertThrowsWith(
      () => intFlag("steps", text, 1, 1, 100),
      new RegExp(`--steps must be an integer in \\[1, 100\\]; got ${JSON.stringify(text)}`),
    );
  }
  assert.equal(intFlag("steps", "42", 1, 1, 100), 42);
  assert.equal(numberFlag("lr", "3e-4", 1, 0, 1), 3e-4);
  assert.equal(numberFlag("lr", ".5", 1, 0, 1), 0.5);
  for (const text of ["0x1", "Infinity", " 0.1", "1e"]) {
    assertThrowsWith(() => numberFlag("lr", text, 1, 0, 1), /--lr must be a number in \[0, 1\]/);
  }
  const flags = parseFlags(["--steps", "-5"], { steps: { type: "string", help: "" } });
  assertThrowsWith(() => intFlag("steps", flags.steps, 1, 1, 100), /got "-5"/);
  const dir = await Deno.makeTempDir();
  try {
    assertOneLine(
      await task("train_small.ts", ["--steps", "-5"], dir),
      2,
      /--steps must be an integer in \[1, 10000000\]; got "-5"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("operating-system errors end a task with one line: 2 for a path given, 1 for a full disk", async () => {
  // Deno's error for a write to a full disk (seen writing /dev/full, which a test may not open).
  const full = Object.assign(
    new Error("No space left on device (os error 28): writefile 'runs/a/report.html'"),
    { code: "ENOSPC" },
  );
  assert.deepEqual(exitFor(full), { code: 1, message: full.message });
  let underFile: unknown;
  const file = await Deno.makeTempFile();
  try {
    await Deno.mkdir(`${file}/run`);
  } catch (error) {
    underFile = error;
  } finally {
    await Deno.remove(file);
  }
  assert.equal(exitFor(underFile)?.code, 2);
  assert.equal(exitFor(new TypeError("a bug")), undefined, "a bug keeps its stack");
  assert.equal(exitFor(new RangeError("a bug in lib")), undefined, "a RangeError is a bug too");
  for (const input of [new UsageError("--x"), new CheckpointError("c"), new LockedError("l")]) {
    assert.equal(exitFor(input)?.code, 2, `${input.name} is the user's input`);
  }
  const dir = await Deno.makeTempDir();
  try {
    Deno.writeTextFileSync(`${dir}/f`, "x");
    for (const out of ["f", "f/run"]) {
      const r = await task("train_small.ts", [...TINY, "--steps=1", `--out=${out}`], dir);
      assertOneLine(r, 2, /f is a file/);
    }
    assert.deepEqual(names(dir), ["f"], "no dataset cache written for a bad --out");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
