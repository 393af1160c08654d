import assert from "node:assert/strict";
import { niceTicks, svgBarChart, svgLineChart } from "../lib/viz/mod.ts";

Deno.test("niceTicks() covers the range with 1-2-5 steps", () => {
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(3, 97, 4), [20, 40, 60, 80]);
  for (const [lo, hi] of [[0.013, 0.47], [-3, 12], [100, 5000]]) {
    const t = niceTicks(lo, hi);
    const step = t[1] - t[0];
    const mantissa = Number((step / 10 ** Math.floor(Math.log10(step))).toPrecision(6));
    assert.ok([1, 2, 5].includes(mantissa), `${lo}–${hi}: step ${step}`);
    assert.ok(t[0] >= lo - 1e-12 && t[0] - step < lo && t.at(-1)! <= hi + 1e-12, `${t}`);
  }
  assert.throws(() => niceTicks(0, Infinity), /range must be finite/);
});

/** Points of the first <path>'s d attribute. */
const pathPoints = (svg: string) =>
  [...svg.match(/<path d="([^"]*)"/)![1].matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => [
    Number(m[1]),
    Number(m[2]),
  ]);

Deno.test("svgLineChart() maps data linearly into the plot box, skips NaN, and is deterministic", () => {
  const series = [{ name: "a", x: [0, 1, 2, 3], y: [0, 1, NaN, 3] }, {
    name: "b <&>",
    x: [0, 3],
    y: [3, 0],
    dash: true,
  }];
  const svg = svgLineChart(series, { title: "t", width: 400, height: 300 });
  assert.equal(svg, svgLineChart(series, { title: "t", width: 400, height: 300 }));
  assert.ok(svg.startsWith("<svg") && svg.trimEnd().endsWith("</svg>"));
  assert.ok(svg.includes("b &#60;&#38;&#62;"), "legend text is escaped");
  const p = pathPoints(svg);
  assert.equal(p.length, 3, "the NaN point is left out");
  // Equal steps in x and y map to equal steps in pixels (x: 0 → 1 and 1 → 3 is 1 : 2).
  const dx1 = p[1][0] - p[0][0], dx2 = p[2][0] - p[1][0];
  assert.ok(Math.abs(dx2 - 2 * dx1) < 0.15, `${dx1} ${dx2}`);
  assert.ok(p[1][1] < p[0][1], "larger y is drawn higher");
  assert.throws(
    () => svgLineChart([{ name: "x", x: [1], y: [NaN] }], { title: "e" }),
    /no finite points/,
  );
});

Deno.test("svgBarChart() draws bar heights proportional to the values from 0", () => {
  const svg = svgBarChart(["A", "B"], [{ name: "s", values: [1, 3] }], {
    title: "bars",
    reference: { value: 2, label: "target" },
  });
  const heights = [
    ...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)" fill="#/g),
  ]
    .map((m) => Number(m[1]));
  assert.equal(heights.length, 2);
  assert.ok(Math.abs(heights[1] / heights[0] - 3) < 0.01, `${heights}`);
  assert.ok(svg.includes(">target</text>"));
});
