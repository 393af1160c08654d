import assert from "node:assert/strict";
import { inflateSync } from "node:zlib";
import {
  cleanOracle,
  rectifiedFlow,
  sampleStaged,
  stagePlan,
  trajectoryRecorder,
  video,
} from "../lib/mod.ts";
import {
  checkInChromium,
  crc32,
  encodeGif,
  encodePng,
  frameStrip,
  image,
  JUPYTER_DISPLAY,
  latex,
  logAxis,
  lossFigure,
  markdown,
  plot,
  renderReport,
  table,
  trajectoryFigure,
  validationFigure,
} from "../lib/viz/mod.ts";

function decodePng(bytes: Uint8Array): { width: number; height: number; pixels: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  assert.deepEqual([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  let at = 8, width = 0, height = 0;
  const idat: Uint8Array[] = [];
  while (at < bytes.length) {
    const length = view.getUint32(at);
    const type = new TextDecoder().decode(bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    assert.equal(
      view.getUint32(at + 8 + length),
      crc32(bytes.subarray(at + 4, at + 8 + length)),
      `${type} CRC`,
    );
    if (type === "IHDR") (width = view.getUint32(at + 8), height = view.getUint32(at + 12));
    if (type === "IDAT") idat.push(data);
    at += 12 + length;
  }
  const raw = new Uint8Array(inflateSync(idat[0]));
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * (width + 1)], 0, "filter type 0");
    pixels.set(raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1)), y * width);
  }
  return { width, height, pixels };
}

/** A reference GIF decoder (LZW per the GIF89a spec), written independently of the encoder. */
function decodeGif(bytes: Uint8Array): { width: number; height: number; frames: Uint8Array[] } {
  const width = bytes[6] | (bytes[7] << 8), height = bytes[8] | (bytes[9] << 8);
  let at = 13 + 3 * (2 << (bytes[10] & 7));
  const frames: Uint8Array[] = [];
  while (bytes[at] !== 0x3b) {
    if (bytes[at] === 0x21) {
      at += 2;
      while (bytes[at] !== 0) at += bytes[at] + 1;
      at++;
      continue;
    }
    assert.equal(bytes[at], 0x2c);
    at += 10;
    const minCode = bytes[at++];
    const data: number[] = [];
    while (bytes[at] !== 0) {
      data.push(...bytes.subarray(at + 1, at + 1 + bytes[at]));
      at += bytes[at] + 1;
    }
    at++;
    const clear = 1 << minCode, end = clear + 1;
    let size = minCode + 1, dict: number[][] = [], prev: number[] | null = null;
    const reset = () => {
      dict = Array.from({ length: end + 1 }, (_, i) => [i]);
      size = minCode + 1;
      prev = null;
    };
    reset();
    const out: number[] = [];
    let bit = 0;
    for (;;) {
      let code = 0;
      for (let i = 0; i < size; i++, bit++) code |= ((data[bit >> 3] >> (bit & 7)) & 1) << i;
      if (code === clear) {
        reset();
        continue;
      }
      if (code === end) break;
      const entry: number[] = code < dict.length ? dict[code] : [...prev!, prev![0]];
      out.push(...entry);
      if (prev) dict.push([...prev, entry[0]]);
      prev = entry;
      if (dict.length === 1 << size && size < 12) size++;
    }
    frames.push(Uint8Array.from(out));
  }
  return { width, height, frames };
}

Deno.test("encodePng() round-trips through an independent decoder with valid CRCs", () => {
  const pixels = Uint8Array.from({ length: 37 * 23 }, (_, i) => (i * 7919) % 256);
  const back = decodePng(encodePng(pixels, { width: 37, height: 23 }));
  assert.equal(back.width, 37);
  assert.equal(back.height, 23);
  assert.deepEqual(back.pixels, pixels);
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

Deno.test("encodeGif() round-trips, including past 4096 LZW codes (a dictionary reset)", () => {
  let s = 1;
  const noise = Uint8Array.from(
    { length: 3 * 40 * 40 },
    () => (s = (s * 1103515245 + 12345) >>> 0) >>> 24,
  );
  const gif = decodeGif(encodeGif(noise, { frames: 3, height: 40, width: 40 }, { zoom: 2 }));
  assert.equal(gif.width, 80);
  assert.equal(gif.frames.length, 3);
  for (let f = 0; f < 3; f++) {
    for (let y = 0; y < 80; y++) {
      for (let x = 0; x < 80; x++) {
        assert.equal(gif.frames[f][y * 80 + x], noise[f * 1600 + (y >> 1) * 40 + (x >> 1)]);
      }
    }
  }
  const flat = decodeGif(
    encodeGif(new Uint8Array(64).fill(9), { frames: 1, height: 8, width: 8 }, { zoom: 1 }),
  );
  assert.deepEqual(flat.frames[0], new Uint8Array(64).fill(9));
});

Deno.test("frameStrip() puts video v, frame f at row v, column f", () => {
  const pixels = Uint8Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => Math.floor(i / 4) * 10);
  const strip = frameStrip(pixels, { videos: 2, frames: 3, height: 2, width: 2 }, {
    zoom: 1,
    gap: 1,
    gapValue: 255,
  });
  assert.equal(strip.width, 3 * 2 + 2);
  assert.equal(strip.height, 2 * 2 + 1);
  assert.equal(strip.pixels[0], 0);
  assert.equal(strip.pixels[3 + 0], 10); // video 0, frame 1
  assert.equal(strip.pixels[2], 255); // gap column
  assert.equal(strip.pixels[3 * 8 + 6], 50); // video 1, frame 2
});

async function recordedTrajectory() {
  const plan = stagePlan({ schedule: rectifiedFlow(), frames: 8, stages: 3, steps: 9 });
  const recorder = trajectoryRecorder(plan);
  const x0 = video({ frames: 8, batch: 2 }, new Float32Array(16).map((_, i) => Math.sin(i)));
  const out = await sampleStaged(plan, cleanOracle(x0, { plan, prediction: "velocity" }), {
    prediction: "velocity",
    start: { batch: 2 },
    ...recorder.hooks,
  });
  recorder.finish(out);
  return { plan, trajectory: recorder.trajectory, x0, out };
}

Deno.test("trajectoryRecorder() records every step, the jumps σ(e_k) → σ(s_{k−1}) and stage-end snapshots", async () => {
  const { plan, trajectory, x0 } = await recordedTrajectory();
  assert.equal(trajectory.steps.length, 9);
  assert.deepEqual(trajectory.steps.map((s) => s.frames), [2, 2, 2, 4, 4, 4, 8, 8, 8]);
  assert.deepEqual(trajectory.jumps.map((j) => [j.fromK, j.toK, j.afterIndex]), [[3, 2, 2], [
    2,
    1,
    5,
  ]]);
  for (const [i, j] of trajectory.jumps.entries()) {
    assert.equal(j.sigmaFrom, plan.stages[i].end); // RF: σ(t) = t
    assert.equal(j.sigmaTo, plan.stages[i + 1].start);
    assert.ok(j.sigmaTo > j.sigmaFrom, "renoising raises the noise level");
  }
  assert.deepEqual(trajectory.snapshots.map((s) => [s.kind, s.positions.length]), [
    ["stage-end", 2],
    ["stage-end", 4],
    ["final", 8],
  ]);
  const final = trajectory.snapshots[2].data;
  for (let i = 0; i < 8; i++) {
    assert.ok(Math.abs(final[i] - x0.data[i]) < 1e-5, "the clean oracle reconstructs x0");
  }
});

Deno.test("trajectoryFigure() draws each jump at its step and σ levels; lossFigure() one trace per stage", async () => {
  const { trajectory } = await recordedTrajectory();
  const fig = trajectoryFigure(trajectory);
  const jumps = fig.data.find((d) => d.name === "renoising jump")!;
  assert.deepEqual(jumps.x, [3, 3, null, 6, 6, null]);
  assert.deepEqual(jumps.y, trajectory.jumps.flatMap((j) => [j.sigmaFrom, j.sigmaTo, null]));
  const frames = fig.data.find((d) => d.name === "frames")!;
  assert.equal(Math.max(...(frames.y as number[])), 8);
  const loss = lossFigure([{ step: 1, loss: 1, k: 1 }, { step: 2, loss: 0.5, k: 3 }, {
    step: 3,
    loss: 0.5,
    k: 1,
  }], { smoothing: 0.5 });
  assert.deepEqual(loss.data.map((d) => d.name), ["stage k = 3", "stage k = 1"]);
  assert.deepEqual(loss.data[1].y, [1, 0.75]);
  assert.doesNotThrow(() => JSON.parse(JSON.stringify(fig)));
  const held = validationFigure([{ step: 10, losses: { 1: 0.3, 3: 0.1 } }, {
    step: 20,
    losses: { 1: 0.2, 3: 0.05 },
  }]);
  assert.deepEqual(held.data.map((d) => [d.name, d.y]), [["held-out, stage k = 3", [0.1, 0.05]], [
    "held-out, stage k = 1",
    [0.3, 0.2],
  ]]);
  assert.deepEqual(
    held.data.map((d) => d.line),
    loss.data.map((d) => d.line),
    "one colour per stage in both figures",
  );
});

const hasChromium = (() => {
  try {
    return Deno.statSync(Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium").isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "renderReport() inlines plotly once and headless Chromium draws every plot without errors",
  ignore: !hasChromium,
  fn: async () => {
    const { trajectory } = await recordedTrajectory();
    const { loadPlotlySource } = await import("../lib/viz/mod.ts");
    const plotly = await loadPlotlySource();
    const html = renderReport({
      title: "test <report>",
      sections: [{
        heading: "a",
        figures: [trajectoryFigure(trajectory), lossFigure([{ step: 1, loss: 1, k: 1 }])],
      }, {
        heading: "b",
        table: { columns: ["x", "y"], rows: [["<b>", 1.23456]] },
      }],
      plotly,
    });
    assert.equal(html.split(plotly.slice(0, 200)).length, 2, "plotly.js appears exactly once");
    assert.ok(
      html.includes("test &#60;report&#62;") && html.includes("&#60;b&#62;"),
      "text is escaped",
    );
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/r.html`, html);
      const check = await checkInChromium(`${dir}/r.html`);
      assert.deepEqual(check.errors, []);
      assert.equal(check.plotsDrawn, 2);
      assert.equal(check.plotsExpected, 2);
      assert.equal(check.drawnPlots, 2);
      await Deno.writeTextFile(
        `${dir}/bad.html`,
        html.replace("await Plotly.newPlot", "await Plotly.nonsense"),
      );
      const bad = await checkInChromium(`${dir}/bad.html`);
      assert.equal(bad.plotsDrawn, 0);
      assert.ok(bad.errors.length > 0, "a broken page is reported");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("display objects yield Jupyter bundles; plot() inlines plotly.js once per session unless told not to", async () => {
  const figure = lossFigure([{ step: 1, loss: 1, k: 1 }]);
  Deno.env.set("TPDIFF_INLINE_PLOTLY", "0");
  const quiet = await plot(figure)[JUPYTER_DISPLAY]();
  assert.deepEqual(Object.keys(quiet).sort(), [
    "application/vnd.plotly.v1+json",
    "text/html",
    "text/plain",
  ]);
  assert.deepEqual(quiet["application/vnd.plotly.v1+json"], {
    data: figure.data,
    layout: figure.layout,
  });
  assert.ok(
    (quiet["text/html"] as string).length < 5000,
    "no plotly.js when TPDIFF_INLINE_PLOTLY=0",
  );
  Deno.env.delete("TPDIFF_INLINE_PLOTLY");
  const first = (await plot(figure)[JUPYTER_DISPLAY]())["text/html"] as string;
  const second = (await plot(figure)[JUPYTER_DISPLAY]())["text/html"] as string;
  assert.ok(first.length > 1_000_000 && second.length < 5000, "inlined once, then reused");
  assert.notEqual(
    first.match(/id="(tpdiff-plot-[^"]+)"/)?.[1],
    second.match(/id="(tpdiff-plot-[^"]+)"/)?.[1],
  );
  const png = encodePng(new Uint8Array(4).fill(200), { width: 2, height: 2 });
  const shown = await image(png, { width: 40 })[JUPYTER_DISPLAY]();
  assert.deepEqual(
    new Uint8Array(Uint8Array.from(atob(shown["image/png"] as string), (c) => c.charCodeAt(0))),
    png,
  );
  assert.match(shown["text/html"] as string, /width="40"/);
  // A GIF goes out once, as an <img> that nbconvert and every front end show.
  const gif = encodeGif(new Uint8Array(2 * 4).fill(90), { frames: 2, height: 2, width: 2 });
  const anim = await image(gif, { mime: "image/gif", alt: "a" })[JUPYTER_DISPLAY]();
  assert.deepEqual(Object.keys(anim).sort(), ["text/html", "text/plain"]);
  const src = (anim["text/html"] as string).match(/src="data:image\/gif;base64,([^"]+)"/)?.[1];
  assert.deepEqual(Uint8Array.from(atob(src!), (c) => c.charCodeAt(0)), gif);
  assert.deepEqual(await latex("x^2")[JUPYTER_DISPLAY](), {
    "text/latex": "$$x^2$$",
    "text/markdown": "$$x^2$$",
    "text/plain": "x^2",
  });
  assert.equal((await markdown("**a**")[JUPYTER_DISPLAY]())["text/markdown"], "**a**");
  const t = await table(["a", "b"], [[1, 0.333333333], ["<x>", 2]])[JUPYTER_DISPLAY]();
  assert.equal(t["text/markdown"], "| a | b |\n| --- | --- |\n| 1 | 0.33333 |\n| <x> | 2 |");
  assert.match(t["text/html"] as string, /&#60;x&#62;/);
});

Deno.test("plotHtml() writes the same HTML for the same figure in a fresh session, and unique ids within one", async () => {
  const url = new URL("../lib/viz/display.ts", import.meta.url).href;
  const code = `import { plotHtml } from "${url}";
const f = { data: [{ type: "scatter", x: [1, 2], y: [3, 4] }], layout: { height: 200 } };
console.log(JSON.stringify([plotHtml(f), plotHtml(f), plotHtml({ ...f, layout: { height: 300 } })]));`;
  const session = async () => {
    const out = await new Deno.Command(Deno.execPath(), { args: ["eval", code], stderr: "inherit" })
      .output();
    assert.equal(out.code, 0);
    return JSON.parse(new TextDecoder().decode(out.stdout)) as string[];
  };
  const [a, b] = [await session(), await session()];
  assert.deepEqual(a, b, "a re-executed notebook writes the same plots");
  const ids = a.map((html) => html.match(/id="(tpdiff-plot-[^"]+)"/)![1]);
  assert.equal(new Set(ids).size, 3, "the same figure twice still gets two ids");
  assert.equal(
    ids[0].split("-")[2],
    ids[1].split("-")[2],
    "the id's first part follows the figure",
  );
  assert.notEqual(ids[0].split("-")[2], ids[2].split("-")[2]);
});

Deno.test("logAxis() labels 1-2-5 ticks inside the data as plain numbers, every decade included", () => {
  for (const [lo, hi] of [[0.031, 0.48], [2e-4, 3], [0.9, 1.1], [7, 7]]) {
    const axis = logAxis([hi, null, lo, -1, NaN, (lo + hi) / 2], "MSE");
    assert.equal(axis.type, "log");
    assert.deepEqual(axis.ticktext.map(Number), axis.tickvals, "labels read back as the values");
    assert.ok(axis.tickvals.every((v) => v >= lo && v <= hi), `${axis.tickvals} in [${lo}, ${hi}]`);
    for (let e = Math.ceil(Math.log10(lo)); 10 ** e <= hi; e++) {
      assert.ok(axis.tickvals.includes(Number((10 ** e).toPrecision(1))), `decade 1e${e} labelled`);
    }
    assert.ok(axis.tickvals.length >= (lo < hi ? 2 : 1), `${axis.tickvals} for [${lo}, ${hi}]`);
  }
  assert.deepEqual(logAxis([0.031, 0.48], "MSE").ticktext, ["0.05", "0.1", "0.2"]);
  assert.deepEqual(logAxis([], "MSE").tickvals, []);
});
