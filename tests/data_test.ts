import assert from "node:assert/strict";
import {
  DATASET_FORMAT_VERSION,
  datasetFileName,
  datasetParams,
  decodeDataset,
  encodeDataset,
  generateDataset,
  loadOrCreateDataset,
  readDataset,
  toModelSpace,
  toPixels,
  writeDataset,
  writeDirAtomic,
  writeFileAtomic,
} from "../lib/data/mod.ts";
import { detectVideos } from "../lib/metrics/tracking.ts";
import { assertThrowsWith } from "./helpers.ts";

const small = datasetParams({ kind: "balls", count: 12, frames: 16, seed: 3 });

Deno.test("generateDataset() is deterministic in its parameters and changes with the seed", () => {
  const a = generateDataset(small), b = generateDataset(small);
  assert.deepEqual(a.pixels, b.pixels);
  assert.deepEqual(a.tracks, b.tracks);
  const c = generateDataset({ ...small, seed: 4 });
  assert.notDeepEqual(a.pixels, c.pixels);
});

Deno.test("tracks move at constant velocity between bounces and reflect at the walls", () => {
  const d = generateDataset(datasetParams({ kind: "shapes", count: 40, frames: 24, seed: 1 }));
  const [N, F, H, W] = d.shape, M = d.params.maxObjects;
  let freeTriples = 0, bounces = 0;
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < d.objectCounts[n]; m++) {
      const r = d.objects[(n * M + m) * 2 + 1];
      const at = (f: number) => ((n * M + m) * F + f) * 2;
      for (let f = 0; f < F; f++) {
        const x = d.tracks[at(f)], y = d.tracks[at(f) + 1];
        assert.ok(
          x >= r - 1e-4 && x <= W - r + 1e-4 && y >= r - 1e-4 && y <= H - r + 1e-4,
          "inside the walls",
        );
      }
      for (let f = 1; f + 1 < F; f++) {
        const bounced = d.bounces[(n * M + m) * F + f] || d.bounces[(n * M + m) * F + f + 1];
        const ax = d.tracks[at(f + 1)] - 2 * d.tracks[at(f)] + d.tracks[at(f - 1)];
        const ay = d.tracks[at(f + 1) + 1] - 2 * d.tracks[at(f) + 1] + d.tracks[at(f - 1) + 1];
        if (!bounced) {
          assert.ok(
            Math.hypot(ax, ay) < 1e-4,
            `free flight has zero acceleration; got ${Math.hypot(ax, ay)}`,
          );
          freeTriples++;
        } else bounces++;
      }
    }
    for (let m = d.objectCounts[n]; m < M; m++) {
      assert.ok(Number.isNaN(d.tracks[((n * M + m) * F) * 2]));
    }
  }
  assert.ok(
    freeTriples > 500 && bounces > 20,
    `${freeTriples} free triples, ${bounces} near bounces`,
  );
});

Deno.test("rendered balls sit where their ground-truth tracks say (detector error < 0.1 px)", () => {
  const d = generateDataset(
    datasetParams({ kind: "balls", count: 30, frames: 8, minObjects: 1, maxObjects: 1, seed: 9 }),
  );
  const [N, F, H, W] = d.shape;
  const found = detectVideos(d.pixels, { videos: N, frames: F, height: H, width: W });
  let worst = 0;
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < F; f++) {
      assert.equal(found[n][f].length, 1);
      const at = (n * F + f) * 2;
      worst = Math.max(
        worst,
        Math.hypot(found[n][f][0].x - d.tracks[at], found[n][f][0].y - d.tracks[at + 1]),
      );
    }
  }
  assert.ok(worst < 0.1, `worst centroid error ${worst}`);
});

Deno.test("glyph and shape datasets draw their objects (non-empty frames, 0–255)", () => {
  for (const kind of ["shapes", "glyphs"] as const) {
    const d = generateDataset(datasetParams({ kind, count: 4, frames: 4, seed: 2 }));
    const ids = new Set(Array.from(d.objects).filter((v, i) => i % 2 === 0 && !Number.isNaN(v)));
    assert.ok([...ids].every((id) => (kind === "shapes" ? id < 3 : id >= 10 && id < 20)));
    for (let f = 0; f < 16; f++) {
      const frame = d.pixels.subarray(f * 1024, (f + 1) * 1024);
      assert.ok(frame.some((p) => p > 200), `${kind} frame ${f} has an object`);
    }
  }
});

Deno.test("toModelSpace() and toPixels() map 0–255 to [−1, 1] and back exactly", () => {
  const d = generateDataset(small);
  const x = toModelSpace(d, [2, 5]);
  assert.equal(x.length, 2 * 16 * 32 * 32);
  assert.ok(x.every((v) => v >= -1 && v <= 1));
  assert.deepEqual(
    toPixels(x).subarray(0, 16 * 1024),
    d.pixels.subarray(2 * 16 * 1024, 3 * 16 * 1024),
  );
  assertThrowsWith(() => toModelSpace(d, [12]), /video index must be in \[0, 11\]; got 12/);
});

Deno.test("the .tpv format round-trips every section", () => {
  const d = generateDataset(small);
  const back = decodeDataset(encodeDataset(d));
  assert.deepEqual(back.params, d.params);
  assert.deepEqual(back.shape, d.shape);
  for (const key of ["pixels", "tracks", "bounces", "objectCounts", "objects"] as const) {
    assert.deepEqual(back[key], d[key], key);
  }
});

Deno.test("a truncated, foreign, wrong-version or wrong-shape dataset file is a clear error", () => {
  const bytes = encodeDataset(generateDataset(small));
  assertThrowsWith(
    () => decodeDataset(bytes.subarray(0, bytes.length - 10), { source: "x.tpv" }),
    /x\.tpv: truncated: section .* needs \d+ bytes, the file has \d+/,
  );
  assertThrowsWith(() => decodeDataset(new Uint8Array(40)), /not a tpdiff dataset file/);
  const headerLength = new DataView(bytes.buffer).getUint32(8, true);
  const header = new TextDecoder().decode(bytes.subarray(12, 12 + headerLength));
  const patched = bytes.slice();
  patched.set(
    new TextEncoder().encode(header.replace(`"version":${DATASET_FORMAT_VERSION}`, '"version":9')),
    12,
  );
  assertThrowsWith(
    () => decodeDataset(patched),
    /format version 9 is not supported; this build reads version 2/,
  );
  assertThrowsWith(
    () => decodeDataset(bytes, { expect: { frames: 8 } }),
    /frames is 16, expected 8/,
  );
});

Deno.test("datasetParams() rejects bad sizes with the value and the rule", () => {
  assertThrowsWith(
    () => datasetParams({ kind: "cubes" as "balls", count: 1 }),
    /dataset must be one of balls, shapes, glyphs, moving-mnist; got "cubes"/,
  );
  assertThrowsWith(
    () => datasetParams({ kind: "balls", count: 0 }),
    /count must be an integer in \[1, 1000000\]; got 0/,
  );
  assertThrowsWith(
    () => datasetParams({ kind: "balls", count: 1, maxObjects: 9 }),
    /maxObjects must be an integer in \[1, 8\]/,
  );
  assertThrowsWith(
    () => datasetParams({ kind: "balls", count: 1, height: 8, sizeRange: [3, 5] }),
    /sizeRange must satisfy/,
  );
});

Deno.test("writeDataset() and readDataset() are atomic and validated on disk", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const d = generateDataset(small);
    await writeDataset(`${dir}/a.tpv`, d);
    assert.deepEqual((await readDataset(`${dir}/a.tpv`)).pixels, d.pixels);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["a.tpv"],
      "no temporary files left",
    );
    await assert.rejects(readDataset(`${dir}/missing.tpv`), /missing\.tpv: no such file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic() and writeDirAtomic() keep the old content when writing fails", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeFileAtomic(`${dir}/f`, "old");
    await writeDirAtomic(`${dir}/d`, (tmp) => Deno.writeTextFile(`${tmp}/x`, "old"));
    await assert.rejects(
      writeDirAtomic(`${dir}/d`, async (tmp) => {
        await Deno.writeTextFile(`${tmp}/x`, "half");
        throw new Error("disk full");
      }),
      /disk full/,
    );
    assert.equal(await Deno.readTextFile(`${dir}/d/x`), "old");
    await writeDirAtomic(`${dir}/d`, (tmp) => Deno.writeTextFile(`${tmp}/x`, "new"));
    assert.equal(await Deno.readTextFile(`${dir}/d/x`), "new");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["d", "f"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("speed multiplies the default speed range; the cache keeps each speed in its own file", async () => {
  const base = { kind: "balls" as const, count: 4, seed: 3, frames: 8, height: 32, width: 32 };
  const one = datasetParams(base), four = datasetParams({ ...base, speed: 4 });
  assert.deepEqual(four.speedRange, [4 * one.speedRange[0], 4 * one.speedRange[1]]);
  assert.equal(datasetFileName(one), "balls-8x32x32-n4-o13-s3.tpv"); // the default name is unchanged
  assert.equal(datasetFileName(four), "balls-8x32x32-n4-o13-v4-10-s3.tpv");
  const mnist = datasetParams({ ...base, kind: "moving-mnist", speed: 2 });
  assert.deepEqual(mnist.speedRange, [2, 4]);
  assertThrowsWith(
    () => datasetParams({ ...base, speed: 0 }),
    /speed must be a number in \(0, 64\]/,
  );
  // Objects 8× faster than today still stay inside the frame (several reflections per frame).
  const fast = generateDataset(datasetParams({ ...base, speed: 8 }));
  assert.ok(fast.tracks.every((v) => Number.isNaN(v) || (v >= 0 && v <= 32)));
  // A cached file whose speed differs from the one asked for is reported, never replaced.
  const dir = await Deno.makeTempDir();
  try {
    const made = await loadOrCreateDataset(four, dir);
    await Deno.rename(made.path, `${dir}/${datasetFileName(one)}`);
    const before = await Deno.readFile(`${dir}/${datasetFileName(one)}`);
    await assert.rejects(() => loadOrCreateDataset(one, dir), /made with speedRange \[4,10\]/);
    assert.deepEqual(await Deno.readFile(`${dir}/${datasetFileName(one)}`), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
