import assert from "node:assert/strict";
import {
  contextGuidedPredict,
  type Predict,
  rectifiedFlow,
  rotateFrames,
  type Stage,
  stagePlan,
  unrotateFrames,
  type Video,
  video,
} from "../lib/mod.ts";

/** A batch whose every value names its video, frame and pixel: 100·b + 10·f + pixel. */
function labelled(batch: number, frames: number, pixels = 2): Video<Float64Array> {
  return video(
    { batch, frames, height: pixels },
    Float64Array.from({ length: batch * frames * pixels }, (_, i) => {
      const p = i % pixels,
        f = Math.floor(i / pixels) % frames,
        b = Math.floor(i / (pixels * frames));
      return 100 * b + 10 * f + p;
    }),
  );
}

Deno.test("rotateFrames puts video (b + f) mod B's frame f in slot (b, f); unrotateFrames undoes it", () => {
  for (let B = 2; B <= 5; B++) {
    for (let F = 1; F <= 6; F++) {
      const x = labelled(B, F);
      const r = rotateFrames(x);
      for (let b = 0; b < B; b++) {
        const sources = new Set<number>();
        for (let f = 0; f < F; f++) {
          for (let p = 0; p < 2; p++) {
            const v = r.data[(b * F + f) * 2 + p];
            assert.equal(v, 100 * ((b + f) % B) + 10 * f + p, `B ${B} F ${F} slot (${b}, ${f})`);
          }
          sources.add((b + f) % B);
        }
        // While the batch holds as many videos as frames, no two frames of a slot share a video.
        if (B >= F) assert.equal(sources.size, F);
      }
      assert.deepEqual([...unrotateFrames(r).data], [...x.data]);
    }
  }
});

const plan = stagePlan({ schedule: rectifiedFlow(), frames: 8, stages: 3, steps: 3 });
const [coarse, middle] = plan.stages;

/** A model whose prediction for a frame is the mean of its video's frames (pure context) plus
 * twice the frame itself; counts its calls. */
function contextModel(calls: { n: number }): Predict {
  return (x) => {
    calls.n++;
    const per = x.height * x.width * x.channels, out = new Float64Array(x.data.length);
    for (let b = 0; b < x.batch; b++) {
      for (let i = 0; i < per; i++) {
        let mean = 0;
        for (let f = 0; f < x.frames; f++) mean += x.data[(b * x.frames + f) * per + i] / x.frames;
        for (let f = 0; f < x.frames; f++) {
          const at = (b * x.frames + f) * per + i;
          out[at] = mean + 2 * x.data[at];
        }
      }
    }
    return out;
  };
}

Deno.test("context guidance is a + w·(c − a), a computed on the frames among other videos (brute force)", async () => {
  const x = labelled(5, coarse.frames, 3);
  const calls = { n: 0 };
  const model = contextModel(calls);
  const c = await model(x, 0.9, coarse) as Float64Array;
  for (const w of [0, 2, 3.5]) {
    const out = await contextGuidedPredict(model, { scale: w })(x, 0.9, coarse);
    const per = 3, F = coarse.frames;
    for (let b = 0; b < 5; b++) {
      for (let f = 0; f < F; f++) {
        for (let p = 0; p < per; p++) {
          // Alone: the frame's neighbours are frame g of video b − f + g (the slot it sits in).
          let mean = 0;
          for (let g = 0; g < F; g++) {
            mean += x.data[((((b - f + g) % 5 + 5) % 5) * F + g) * per + p] / F;
          }
          const at = (b * F + f) * per + p;
          const a = mean + 2 * x.data[at];
          assert.ok(Math.abs(out[at] - (a + w * (c[at] - a))) < 1e-9, `w ${w} (${b}, ${f}, ${p})`);
        }
      }
    }
  }
});

Deno.test("a frame-local model is left unchanged at every scale; unguided stages call the model once", async () => {
  const local: Predict = (x) => x.data.map((v) => Math.sin(v) + 1e-3 * v * v);
  const x = labelled(4, coarse.frames);
  const plain = await local(x, 0.8, coarse);
  for (const w of [0, 3, 7]) {
    const out = await contextGuidedPredict(local, { scale: w })(x, 0.8, coarse);
    // Each value is read back from another slot, so only an exact inverse rotation matches.
    assert.ok(out.every((v, i) => Math.abs(v - plain[i]) < 1e-12), `w ${w}`);
  }
  const calls = { n: 0 };
  const guided = contextGuidedPredict(contextModel(calls), { scale: 3, stages: [3] });
  await guided(labelled(4, middle.frames), 0.5, middle);
  assert.equal(calls.n, 1, "stage k = 2 is not guided: one call");
  await guided(x, 0.9, coarse);
  assert.equal(calls.n, 3, "stage k = 3 is guided: two calls");
  const between = contextGuidedPredict(contextModel(calls), { scale: 3, interval: [0, 0.85] });
  await between(x, 0.9, coarse);
  assert.equal(calls.n, 4, "t = 0.9 lies outside [0, 0.85]: one call");
  assert.equal(contextGuidedPredict(local, { scale: 1 }), local, "scale 1 is the model itself");
});

Deno.test("context guidance rejects a batch of one, a bad scale, stages or interval", async () => {
  const model = contextModel({ n: 0 });
  await assert.rejects(
    async () =>
      await contextGuidedPredict(model, { scale: 2 })(labelled(1, 2), 0.9, coarse as Stage),
    /at least 2 videos.*got 1/,
  );
  assert.throws(() => contextGuidedPredict(model, { scale: NaN }), /context guidance scale/);
  assert.throws(
    () => contextGuidedPredict(model, { scale: 2, stages: [1.5] }),
    /stage numbers k; got \[1\.5\]/,
  );
  assert.throws(
    () => contextGuidedPredict(model, { scale: 2, interval: [0.9, 0.1] }),
    /interval must be \[lo, hi\] with 0 ≤ lo ≤ hi ≤ 1; got \[0\.9, 0\.1\]/,
  );
});
