import assert from "node:assert/strict";
import {
  clipWindows,
  createDataset,
  datasetParams,
  decodeGif,
  decodePng,
  decodeVideoFile,
  fitFrame,
  hasFfmpeg,
  readDataset,
  writeMp4,
} from "../lib/data/mod.ts";
import { encodeGif, encodePng } from "../lib/viz/mod.ts";
import { task } from "./task_helpers.ts";

const F = 20, S = 32, AREA = S * S;
const balls = await createDataset(datasetParams({ kind: "balls", count: 4, frames: F, seed: 9 }));
const clip = (n: number) => balls.pixels.subarray(n * F * AREA, (n + 1) * F * AREA);
const frame = (n: number, f: number) => clip(n).subarray(f * AREA, (f + 1) * AREA);
const ffmpeg = await hasFfmpeg();

/** Two GIF clips, one folder of PNG frames and (with ffmpeg) one MP4, from balls videos 0–3. */
async function writeClips(dir: string): Promise<void> {
  for (const n of [0, 1]) {
    await Deno.writeFile(
      `${dir}/clip${n}.gif`,
      encodeGif(clip(n), { frames: F, height: S, width: S }, { zoom: 1 }),
    );
  }
  await Deno.mkdir(`${dir}/frames`);
  for (let f = 0; f < F; f++) {
    await Deno.writeFile(
      `${dir}/frames/f${f}.png`,
      encodePng(frame(2, f), { width: S, height: S }),
    );
  }
  if (ffmpeg) {
    await writeMp4(`${dir}/z.mp4`, clip(3), { frames: F, height: S, width: S, channels: 1 }, {
      zoom: 1,
    });
  }
}

Deno.test("windows: as many as fit, one after another, at the stride", () => {
  assert.deepEqual(clipWindows(20, { frames: 8, stride: 2 }), [[0, 2, 4, 6, 8, 10, 12, 14]]);
  assert.deepEqual(clipWindows(16, { frames: 4, stride: 1 }).map((w) => w[0]), [0, 4, 8, 12]);
  assert.deepEqual(clipWindows(14, { frames: 8, stride: 2 }), []);
  assert.throws(
    () => clipWindows(10, { frames: 0, stride: 1 }),
    /frames must be a positive integer; got 0/,
  );
});

Deno.test("fitFrame: a same-size frame is copied, a double-size one block-averaged, a wide one centre-cropped", () => {
  const gray = frame(0, 5), rgba = new Uint8Array(AREA * 4);
  gray.forEach((v, p) => rgba.set([v, v, v, 255], p * 4));
  const target = { height: S, width: S, channels: 1 as const };
  assert.deepEqual(fitFrame(rgba, { width: S, height: S }, target), gray);
  // 64 × 64 made of 2 × 2 blocks of distinct values comes back as those values.
  const big = new Uint8Array(64 * 64 * 4);
  for (let i = 0; i < 64; i++) {
    for (let j = 0; j < 64; j++) {
      const v = gray[(i >> 1) * S + (j >> 1)];
      big.set([v, v, v, 255], (i * 64 + j) * 4);
    }
  }
  assert.deepEqual(fitFrame(big, { width: 64, height: 64 }, target), gray);
  // 40 wide, 32 high: the centred 32 × 32 (columns 4–35) is kept.
  const wide = new Uint8Array(40 * S * 4);
  for (let i = 0; i < S; i++) {
    for (let j = 0; j < 40; j++) {
      const v = j >= 4 && j < 36 ? gray[i * S + j - 4] : 255;
      wide.set([v, v, v, 255], (i * 40 + j) * 4);
    }
  }
  assert.deepEqual(fitFrame(wide, { width: 40, height: S }, target), gray);
  // RGB kept as RGB; grayscale is BT.601 luma; alpha composites over black.
  const px = new Uint8Array([200, 100, 50, 255]), one = { height: 1, width: 1 };
  assert.deepEqual(fitFrame(px, one, { ...one, channels: 3 }), new Uint8Array([200, 100, 50]));
  assert.deepEqual(
    fitFrame(px, one, { ...one, channels: 1 }),
    new Uint8Array([Math.round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)]),
  );
  assert.deepEqual(
    fitFrame(new Uint8Array([200, 100, 50, 0]), one, { ...one, channels: 3 }),
    new Uint8Array([0, 0, 0]),
  );
});

Deno.test("the decoders read what the encoders wrote, and name a file they cannot read", () => {
  const gif = decodeGif(encodeGif(clip(0), { frames: F, height: S, width: S }, { zoom: 1 }));
  assert.equal(gif.frames.length, F);
  assert.deepEqual(gif.frames[7].filter((_, i) => i % 4 === 0), frame(0, 7));
  const png = decodePng(encodePng(frame(1, 3), { width: S, height: S }));
  assert.deepEqual(png.rgba.filter((_, i) => i % 4 === 1), frame(1, 3));
  assert.throws(
    () => decodeGif(new Uint8Array([1, 2, 3]), "x.gif"),
    /^ClipError: x\.gif: not a readable GIF/,
  );
  assert.throws(() => decodePng(new Uint8Array(20), "y.png"), /y\.png: not a readable PNG/);
});

Deno.test("import-videos: GIFs, PNG frames and MP4 in; lossless pixels; whole clips held out", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/src`);
    await writeClips(`${dir}/src`);
    const r = await task(
      "import_videos.ts",
      ["src", "--out", "data/mine.tpv", "--frames", "8", "--stride", "2", "--held-out", "0.25"],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    const clips = ffmpeg ? 4 : 3;
    assert.match(
      r.stdout,
      new RegExp(`wrote data/mine\\.tpv: ${clips} videos of 8 × 32 × 32 × 1 from ${clips} clips`),
    );
    const d = await readDataset(`${dir}/data/mine.tpv`);
    assert.deepEqual(d.shape, [clips, 8, S, S, 1]);
    assert.equal(d.params.imported!.stride, 2);
    assert.equal(d.split!.reduce((a, b) => a + b, 0), 1); // one of 3–4 clips
    // Clips in name order: clip0.gif, clip1.gif, frames/, z.mp4; frames 0, 2, …, 14 of each.
    for (let n = 0; n < clips; n++) {
      let worst = 0, sum = 0;
      for (let j = 0; j < 8; j++) {
        const got = d.pixels.subarray((n * 8 + j) * AREA, (n * 8 + j + 1) * AREA);
        const want = frame(n, 2 * j);
        got.forEach((v, p) => {
          worst = Math.max(worst, Math.abs(v - want[p]));
          sum += Math.abs(v - want[p]);
        });
      }
      if (n < 3) assert.equal(worst, 0, `clip ${n} is lossless`);
      else assert.ok(sum / (8 * AREA) < 2, `MP4: mean error ${sum / (8 * AREA)} levels`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "an MP4 written for the browser decodes to the same frames within H.264's error",
  ignore: !ffmpeg,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await writeMp4(`${dir}/v.mp4`, clip(1), { frames: F, height: S, width: S, channels: 1 });
      const back = await decodeVideoFile(`${dir}/v.mp4`);
      assert.deepEqual([back.width, back.height, back.frames.length], [4 * S, 4 * S, F]);
      const fitted = back.frames.map((f) =>
        fitFrame(f, back, { height: S, width: S, channels: 1 })
      );
      let sum = 0;
      fitted.forEach((f, i) => f.forEach((v, p) => (sum += Math.abs(v - frame(1, i)[p]))));
      assert.ok(sum / (F * AREA) < 2, `mean error ${sum / (F * AREA)} levels`);
      const names = [...Deno.readDirSync(dir)].map((e) => e.name);
      assert.deepEqual(names, ["v.mp4"]); // no temporary left behind
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("import-videos: each bad input gets one line naming the file, and nothing is written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/src/mixed`, { recursive: true });
    await Deno.mkdir(`${dir}/empty`);
    await Deno.writeFile(
      `${dir}/src/a.gif`,
      encodeGif(clip(0), { frames: F, height: S, width: S }, { zoom: 1 }),
    );
    await Deno.writeFile(`${dir}/src/b.gif`, new TextEncoder().encode("not a gif"));
    await Deno.writeFile(
      `${dir}/src/c.gif`,
      encodeGif(clip(1).subarray(0, 5 * AREA), { frames: 5, height: S, width: S }, { zoom: 1 }),
    );
    await Deno.writeFile(`${dir}/src/mixed/1.png`, encodePng(frame(0, 0), { width: S, height: S }));
    await Deno.writeFile(
      `${dir}/src/mixed/2.png`,
      encodePng(new Uint8Array(16 * 8), { width: 16, height: 8 }),
    );
    await Deno.writeFile(`${dir}/src/v.mp4`, new TextEncoder().encode("not a video"));
    const run = (args: string[], env: Record<string, string> = {}) =>
      task("import_videos.ts", [...args, "--frames", "8"], dir, env);

    const strict = await run(["src", "--out", "out.tpv"]);
    assert.equal(strict.code, 2);
    assert.match(
      strict.stderr,
      /src\/b\.gif: not a readable GIF .*\(--skip-bad imports the other clips\)/,
    );
    const empty = await run(["empty", "--out", "out.tpv"]);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /empty: no clip found \(GIF files, folders of PNG frames, or \.mp4/);

    const lenient = await run(["src", "--out", "out.tpv", "--skip-bad"]);
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.match(lenient.stdout, /skipped .*src\/b\.gif: not a readable GIF/);
    assert.match(
      lenient.stdout,
      /skipped .*src\/c\.gif: the clip has 5 frames; --frames 8 at --stride 1 needs 8/,
    );
    assert.match(
      lenient.stdout,
      /skipped .*src\/mixed: frames are not all one size: 1\.png is 32×32, 2\.png is 16×8/,
    );
    assert.match(
      lenient.stdout,
      ffmpeg
        ? /skipped .*src\/v\.mp4: not a readable video/
        : /skipped .*src\/v\.mp4: ffmpeg is not on the PATH/,
    );
    assert.match(lenient.stdout, /skipped 4 of 5 clips/);
    assert.equal((await readDataset(`${dir}/out.tpv`)).shape[0], 2); // a.gif's two windows
    const before = await Deno.readFile(`${dir}/out.tpv`);
    const again = await run(["src", "--out", "out.tpv", "--skip-bad"]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /out\.tpv exists; import-videos never overwrites a file/);
    assert.deepEqual(await Deno.readFile(`${dir}/out.tpv`), before);

    // Without ffmpeg on the PATH a video file gets the line that says what to install.
    const noFfmpeg = await run(["src/v.mp4", "--out", "v.tpv"], { PATH: dir });
    assert.equal(noFfmpeg.code, 2);
    assert.match(
      noFfmpeg.stderr,
      /v\.mp4: ffmpeg is not on the PATH; install it \(Debian: apt-get install ffmpeg\)/,
    );
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["empty", "out.tpv", "src"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train-small --data trains on an import, holds its held-out clips out, and resumes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/src`);
    await writeClips(`${dir}/src`);
    const imported = await task("import_videos.ts", [
      ...["src", "--out", "clips.tpv", "--size", "16", "--frames", "4", "--held-out", "0.3"],
    ], dir);
    assert.equal(imported.code, 0, imported.stderr);
    const d = await readDataset(`${dir}/clips.tpv`);
    const training = d.split!.filter((x) => x === 0).length;
    const small = ["--stages=2", "--batch=2", "--widths=8,16", "--samples=2", "--sample-steps=4"];
    const run = await task("train_small.ts", [
      ...["--data=clips.tpv", "--steps=2", "--out=run", "--checkpoint-every=1", ...small],
    ], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /train-small: imported 4×16×16/);
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/run/checkpoint/checkpoint.json`));
    assert.equal(manifest.extra.data, `${await Deno.realPath(dir)}/clips.tpv`);
    assert.equal(manifest.extra.videos, training);
    const summary = JSON.parse(await Deno.readTextFile(`${dir}/run/summary.json`));
    assert.equal(summary.motion, undefined); // no ground-truth objects in clips
    const resumed = await task("train_small.ts", ["--resume=run", "--steps=3"], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    const clash = await task("train_small.ts", ["--data=clips.tpv", "--size=32", "--out=x"], dir);
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /--data sets the dataset, its videos, frames and size; drop --size/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Balls in colour: red where a ball is, green where it is not, blue constant. */
const colour = (gray: Uint8Array) => {
  const out = new Uint8Array(gray.length * 3);
  gray.forEach((v, p) => out.set([v, 255 - v, 60], p * 3));
  return out;
};

Deno.test("RGB: PNG exact, GIF within the colour cube's half-step", () => {
  const rgb = colour(frame(0, 4));
  const png = decodePng(encodePng(rgb, { width: S, height: S, channels: 3 }));
  assert.deepEqual(png.rgba.filter((_, i) => i % 4 !== 3), rgb);
  const gif = decodeGif(
    encodeGif(colour(clip(0)), { frames: F, height: S, width: S, channels: 3 }, {
      zoom: 1,
    }),
  );
  const got = gif.frames[4];
  let worst = [0, 0, 0];
  for (let p = 0; p < AREA; p++) {
    worst = worst.map((w, c) => Math.max(w, Math.abs(got[p * 4 + c] - rgb[p * 3 + c])));
  }
  // Steps of 51 (red, blue) and 42.5 (green): the nearest level is at most half a step away.
  assert.ok(worst[0] <= 26 && worst[1] <= 22 && worst[2] <= 26, `${worst}`);
  assert.ok(worst[0] > 0, "the cube quantises"); // 60 and most ball values are not cube levels
});

Deno.test("colour end to end: an RGB import trains, and its samples are RGB PNG and GIF", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const n of [0, 1, 2]) {
      await Deno.mkdir(`${dir}/src/c${n}`, { recursive: true });
      for (let f = 0; f < 8; f++) {
        await Deno.writeFile(
          `${dir}/src/c${n}/${f}.png`,
          encodePng(colour(frame(n, f)), { width: S, height: S, channels: 3 }),
        );
      }
    }
    const imported = await task(
      "import_videos.ts",
      ["src", "--out", "rgb.tpv", "--channels", "3", "--frames", "8"],
      dir,
    );
    assert.equal(imported.code, 0, imported.stderr);
    const d = await readDataset(`${dir}/rgb.tpv`);
    assert.deepEqual(d.shape, [3, 8, S, S, 3]);
    assert.deepEqual(d.pixels.subarray(0, 8 * AREA * 3), colour(clip(0).subarray(0, 8 * AREA)));
    const small = ["--stages=2", "--batch=2", "--widths=8,16", "--samples=2", "--sample-steps=4"];
    const run = await task(
      "train_small.ts",
      ["--data=rgb.tpv", "--steps=2", "--out=run", ...small],
      dir,
    );
    assert.equal(run.code, 0, run.stderr);
    const strip = decodePng(await Deno.readFile(`${dir}/run/samples.png`));
    // Rows of 8 frames of 64 × 64 (zoom 2) with 2-pixel gaps: some pixel is not grey.
    assert.equal(strip.width, 8 * 64 + 7 * 2);
    const rgba = strip.rgba;
    assert.ok(
      rgba.some((_, p) => p % 4 === 0 && (rgba[p] !== rgba[p + 1] || rgba[p] !== rgba[p + 2])),
    );
    const gif = decodeGif(await Deno.readFile(`${dir}/run/sample-0.gif`));
    assert.equal(gif.frames.length, 8);
    // With ffmpeg each sample is also an MP4, and the report plays those instead of the GIFs.
    const report = await Deno.readTextFile(`${dir}/run/report.html`);
    if (ffmpeg) {
      const mp4 = await decodeVideoFile(`${dir}/run/sample-1.mp4`);
      assert.deepEqual([mp4.width, mp4.height, mp4.frames.length], [4 * S, 4 * S, 8]);
      assert.equal((report.match(/<video src="data:video\/mp4;base64,/g) ?? []).length, 2);
    } else assert.ok(!report.includes("<video"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
