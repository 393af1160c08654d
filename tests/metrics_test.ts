import assert from "node:assert/strict";
import {
  findObjects,
  modalObjectCount,
  motionStats,
  permanenceBreaks,
  positionErrors,
  trackPositions,
} from "../lib/metrics/tracking.ts";
import { datasetParams, generateDataset } from "../lib/data/mod.ts";
import { assertClose } from "./helpers.ts";

function discFrame(centres: [number, number, number][], size = 32): Uint8Array {
  const frame = new Uint8Array(size * size);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      let v = 0;
      for (const [x, y, r] of centres) {
        v = Math.max(v, Math.min(1, Math.max(0, r + 0.5 - Math.hypot(j + 0.5 - x, i + 0.5 - y))));
      }
      frame[i * size + j] = Math.round(255 * v);
    }
  }
  return frame;
}

Deno.test("findObjects() finds separate discs at their centres and ignores specks", () => {
  const frame = discFrame([[8, 8, 3], [24.5, 20.25, 4]]);
  frame[31 * 32 + 31] = 255; // a one-pixel speck, below minArea
  const found = findObjects(frame, { height: 32, width: 32 }).sort((a, b) => a.x - b.x);
  assert.equal(found.length, 2);
  assertClose(found[0].x, 8, 1e-9);
  assertClose(found[0].y, 8, 1e-9);
  assertClose(found[1].x, 24.5, 0.05);
  assertClose(found[1].y, 20.25, 0.05);
});

Deno.test("motionStats() gives zero residual and the exact speed for constant-velocity tracks", () => {
  const video = Array.from(
    { length: 10 },
    (_, f) => [{ x: 5 + 1.5 * f, y: 20 - 2 * f }, { x: 28 - f, y: 4 + 0.5 * f }],
  );
  const stats = motionStats([video]);
  assertClose(stats.residualMedian, 0, 1e-12);
  assertClose(stats.residualMean, 0, 1e-12);
  assertClose(stats.speed, (2.5 + Math.hypot(1, 0.5)) / 2, 1e-12);
  assert.equal(stats.objectsPerFrame, 2);
  assert.equal(stats.countStability, 1);
  assert.equal(stats.linkedFraction, 1);
});

Deno.test("motionStats() links crossing objects by minimum total distance, not by list order", () => {
  // The lists swap order every frame; a naive index link would see jumps of ~20 px.
  const video = Array.from({ length: 6 }, (_, f) => {
    const a = { x: 4 + f, y: 10 }, b = { x: 24 - f, y: 22 };
    return f % 2 ? [a, b] : [b, a];
  });
  const stats = motionStats([video]);
  assertClose(stats.speed, 1, 1e-12);
  assertClose(stats.residualMean, 0, 1e-12);
});

Deno.test("motionStats() sees a bounce and a jump as residual and breaks links beyond maxJump", () => {
  const bounce = [0, 1, 2, 3, 2, 1].map((x) => [{ x: 10 + 2 * x, y: 10 }]);
  const s = motionStats([bounce]);
  assert.ok(s.residualMean > 0.9 && s.residualMedian === 0, JSON.stringify(s));
  const teleport = [[{ x: 2, y: 2 }], [{ x: 3, y: 2 }], [{ x: 30, y: 30 }]];
  assert.equal(motionStats([teleport]).linkedFraction, 0.5);
});

Deno.test("trackPositions() skips absent objects (NaN)", () => {
  const tracks = new Float32Array([1, 2, 3, 4, NaN, NaN, NaN, NaN]);
  const p = trackPositions(tracks, { count: 1, maxObjects: 2, frames: 2 });
  assert.deepEqual(p, [[[{ x: 1, y: 2 }], [{ x: 3, y: 4 }]]]);
});

Deno.test("motionStats() counts turns, and places them at a wall or away from it", () => {
  // x: 10, 12, 14, 16, 14, 12 turns once at x = 16; in a 20-px frame that is 3 px from the wall.
  const bounce = [0, 1, 2, 3, 2, 1].map((x) => [{ x: 10 + 2 * x, y: 10 }]);
  const near = motionStats([bounce], { size: { width: 20, height: 20 } });
  assert.equal(near.turnsPerVideo, 1);
  assert.equal(near.wallTurnFraction, 1);
  const far = motionStats([bounce, bounce], { size: { width: 64, height: 64 } });
  assert.equal(far.turnsPerVideo, 1);
  assert.equal(far.wallTurnFraction, 0);
  assert.ok(Number.isNaN(motionStats([bounce]).wallTurnFraction), "no size, no wall fraction");
  // A jitter below 0.25 px/frame is not a turn.
  const jitter = [0, 0.2, 0, 0.2, 0].map((x) => [{ x: 10 + x, y: 10 }]);
  assert.equal(motionStats([jitter]).turnsPerVideo, 0);
});

Deno.test("permanenceBreaks() finds a vanishing and an appearing object, and nothing else", () => {
  // Object a flies through; b vanishes after frame 2; c appears from nothing at frame 3.
  const video = Array.from({ length: 5 }, (_, f) => [
    { x: 5 + 2 * f, y: 10 },
    ...(f <= 2 ? [{ x: 20, y: 5 + f }] : []),
    ...(f >= 3 ? [{ x: 16, y: 26 }] : []),
  ]);
  const { breaks, checked } = permanenceBreaks(video, { size: { width: 32, height: 32 } });
  assert.deepEqual(breaks, [
    { kind: "vanish", frame: 2, x: 20, y: 7 },
    { kind: "appear", frame: 3, x: 16, y: 26 },
  ]);
  // Forward: frames 0-3 hold 2, 2, 2, 2 objects; backward: frames 1-4 hold 2, 2, 2, 2.
  assert.equal(checked, 16);
  const stats = motionStats([video, video.map((f) => f.slice(0, 1))], {
    size: { width: 32, height: 32 },
  });
  assertClose(stats.permanence, 1 - 2 / (16 + 8), 1e-12);
  assert.equal(stats.brokenVideos, 0.5);
});

Deno.test("permanenceBreaks(): two objects merging into one blob and splitting again break nothing", () => {
  const video = [
    [{ x: 10, y: 16 }, { x: 20, y: 16 }],
    [{ x: 15, y: 16 }],
    [{ x: 11, y: 16 }, { x: 19, y: 16 }],
  ];
  assert.deepEqual(permanenceBreaks(video).breaks, []);
  // A merged blob's centroid 7 px from a part: only its larger area makes it the partner.
  const merged = [[{ x: 8, y: 16, area: 50 }, { x: 22, y: 16, area: 50 }], [{
    x: 15,
    y: 16,
    area: 160,
  }]];
  assert.deepEqual(permanenceBreaks(merged).breaks, []);
  const withoutArea = merged.map((f) => f.map(({ x, y }) => ({ x, y })));
  assert.equal(permanenceBreaks(withoutArea).breaks.length, 3);
  // An object leaving through the edge (centroid within exitMargin) is not a break.
  const leaving = [[{ x: 3, y: 16 }], [{ x: 1, y: 16 }], []];
  assert.deepEqual(permanenceBreaks(leaving, { size: { width: 32, height: 32 } }).breaks, []);
  assert.equal(permanenceBreaks(leaving).breaks.length, 1, "without a size, no edge exception");
});

Deno.test("motionStats(): the generator's balls keep permanence 1, detected and exact", () => {
  const dataset = generateDataset(
    datasetParams({ kind: "balls", count: 64, frames: 16, height: 32, width: 32, seed: 3 }),
  );
  const size = { width: 32, height: 32 };
  const exact = motionStats(
    trackPositions(dataset.tracks, { count: 64, maxObjects: 3, frames: 16 }),
    { size },
  );
  assert.equal(exact.permanence, 1);
  assert.equal(exact.brokenVideos, 0);
  const frames = [];
  for (let v = 0; v < 64; v++) {
    frames.push(Array.from({ length: 16 }, (_, f) => {
      const at = (v * 16 + f) * 1024;
      return findObjects(dataset.pixels.subarray(at, at + 1024), { height: 32, width: 32 });
    }));
  }
  const detected = motionStats(frames, { size });
  assert.equal(detected.permanence, 1, JSON.stringify(detected));
  assert.equal(detected.brokenVideos, 0);
});

Deno.test("positionErrors(): exact distances by optimal pairing, misses beyond maxDistance, frames pooled", () => {
  // Two videos of three frames. Truth: two objects per frame; detections shifted by (3, 4) (5 px),
  // listed in the opposite order, one missing in frame 1 and one too far (9 px) in frame 2.
  const truth = [0, 1].map((v) =>
    [0, 1, 2].map((f) => [{ x: 4 + f + v, y: 4 }, { x: 20, y: 20 + f }])
  );
  const detected = truth.map((video) =>
    video.map((objs, f) => {
      const moved = objs.map((o) => ({ x: o.x + 3, y: o.y + 4 })).reverse();
      if (f === 1) return moved.slice(0, 1);
      if (f === 2) return [moved[0], { x: objs[0].x + 9, y: objs[0].y }];
      return moved;
    })
  );
  const e = positionErrors(detected, truth);
  assert.deepEqual(e.perFrame, [5, 5, 5]);
  assert.deepEqual(e.missedPerFrame, [0, 0.5, 0.5]);
  assert.deepEqual([e.mean, e.median, e.missed, e.objects], [5, 5, 4 / 12, 12]);
  // A missed object counts maxDistance (8): frames 1 and 2 average (5 + 8) / 2.
  assert.deepEqual(e.cappedPerFrame, [5, 6.5, 6.5]);
  assert.equal(e.capped, (4 * 5 + 2 * 5 + 2 * 5 + 4 * 8) / 12);
  const late = positionErrors(detected, truth, { frames: [2], maxDistance: 10 });
  assert.deepEqual([late.mean, late.missed, late.objects], [7, 0, 4]);
  assert.deepEqual(positionErrors(truth, truth).perFrame, [0, 0, 0]);
  assert.throws(() => positionErrors(detected.slice(1), truth), /1 detected videos against 2/);
});

Deno.test("modalObjectCount(): the most common count per frame, ties to the smaller", () => {
  assert.equal(modalObjectCount([[1], [1, 2], [1, 2], [3, 4]]), 2);
  assert.equal(modalObjectCount([[1], [1, 2]]), 1);
  assert.equal(modalObjectCount([[], [], [1]]), 0);
});
