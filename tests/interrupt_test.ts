/**
 * Ctrl-C on train-small, sent as a real SIGINT to a child process: the first stops within one step
 * and saves a checkpoint that resumes exactly; the second exits at once without one.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readCheckpoint } from "../lib/nn/mod.ts";
import { spawnTask, task, TINY } from "./task_helpers.ts";

/** Starts a task, sends SIGINT once `when` matches its output (twice with `twice`), and waits. */
async function interrupt(
  args: string[],
  cwd: string,
  when: RegExp,
  options: { twice?: boolean } = {},
): Promise<{ code: number; stdout: string }> {
  const child = spawnTask("train_small.ts", args, cwd).spawn();
  child.stderr.cancel();
  let stdout = "", sent = 0;
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    stdout += chunk;
    if (sent === 0 && when.test(stdout)) (child.kill("SIGINT"), sent++);
    if (sent === 1 && options.twice && /stopping after this step/.test(stdout)) {
      child.kill("SIGINT");
      sent++;
    }
  }
  return { code: (await child.status).code, stdout };
}

const stepLines = (text: string) => [...text.matchAll(/^step (\d+)\//gm)].map((m) => Number(m[1]));

Deno.test("Ctrl-C stops train-small within one step; its checkpoint resumes exactly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const args = [...TINY, "--steps=40", "--checkpoint-every=100"];
    const stopped = await interrupt([...args, "--out=a"], dir, /^step 5\//m);
    assert.equal(stopped.code, 130, stopped.stdout);
    const [before, after] = stopped.stdout.split(/stopping after this step/);
    assert.ok(after !== undefined, "the first Ctrl-C is announced");
    const at = Number(/interrupted at step (\d+); checkpoint saved/.exec(after)?.[1]);
    // Only the step in flight when the signal arrived may finish after the notice.
    assert.ok(stepLines(after).length <= 1, `steps after the notice: ${stepLines(after)}`);
    assert.equal(at, Math.max(...stepLines(before), ...stepLines(after)));
    assert.ok(at < 40, `stopped at step ${at} of 40`);
    assert.equal((await readCheckpoint(`${dir}/a/checkpoint`)).manifest.step, at);

    const sampling = ["--samples=1", "--sample-steps=4"];
    const resumed = await task("train_small.ts", ["--resume=a", ...sampling], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    const whole = await task("train_small.ts", [...args, ...sampling, "--out=b"], dir);
    assert.equal(whole.code, 0, whole.stderr);
    assert.deepEqual(
      await Deno.readFile(`${dir}/a/checkpoint/tensors.bin`),
      await Deno.readFile(`${dir}/b/checkpoint/tensors.bin`),
      "interrupted and resumed equals uninterrupted, bit for bit",
    );
    assert.deepEqual(
      await Deno.readFile(`${dir}/a/samples.png`),
      await Deno.readFile(`${dir}/b/samples.png`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second Ctrl-C exits at once, leaving the last checkpoint loadable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Steps of a few hundred ms, so that the second signal lands inside the step in flight.
    const args = [...TINY, "--size=64", "--batch=16", "--steps=40", "--checkpoint-every=2"];
    const run = await interrupt([...args, "--out=a"], dir, /^step 3\//m, { twice: true });
    assert.equal(run.code, 130, run.stdout);
    assert.match(run.stdout, /interrupted again: exiting without a checkpoint/);
    assert.doesNotMatch(run.stdout, /checkpoint saved/);
    const last = Math.max(...stepLines(run.stdout));
    const saved = (await readCheckpoint(`${dir}/a/checkpoint`)).manifest.step;
    assert.equal(saved % 2, 0, "only the periodic checkpoints were written");
    assert.ok(saved >= 2 && saved <= last, `checkpoint at step ${saved}, last step ${last}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
