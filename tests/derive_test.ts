import assert from "node:assert/strict";
import {
  checkDerivations,
  deriveRectifiedFlowStart,
  deriveStagePair,
  deriveTransition,
  deriveVelocity,
  scheduleFromExpressions,
} from "../lib/derive.ts";
import { correctedStart } from "../lib/pyramid.ts";
import { rectifiedFlow, shiftSchedule, vpSchedule } from "../lib/schedule.ts";
import { assertClose, assertThrowsWith } from "./helpers.ts";

Deno.test("symbolic derivations agree with the numeric code for RF, VP and shifted schedules", () => {
  for (
    const schedule of [
      rectifiedFlow(),
      vpSchedule({ beta: "linear" }),
      vpSchedule({ beta: "scaled-linear" }),
      vpSchedule({ beta: "cosine" }),
      shiftSchedule(rectifiedFlow(), 3),
    ]
  ) {
    const check = checkDerivations(schedule);
    for (const [what, err] of Object.entries(check)) {
      assert.ok(err < 1e-10, `${schedule.name}: ${what} differs by ${err}`);
    }
    if (schedule.name === "rectified-flow") assert.ok(check.rectifiedFlowStart !== undefined);
  }
});

Deno.test("for RF the determinant simplifies to e_k − s_k and ε_k = ((1 − s)x̂_e − (1 − e)x̂_s)/(e − s)", () => {
  const d = deriveStagePair({ gamma: "1 - t", sigma: "t" });
  assert.equal(d.det.text, "te - ts");
  assert.equal(d.det.latex, "e_k - s_k");
  for (const [s, e] of [[0.9, 0.2], [1, 2 / 3], [Math.SQRT2 - 1, 0]]) {
    const c = d.evaluate(s, e);
    assertClose(c.epsilon.start, -(1 - e) / (e - s), 1e-14);
    assertClose(c.epsilon.end, (1 - s) / (e - s), 1e-14);
    assertClose(c.x0.start, e / (e - s), 1e-14);
    assertClose(c.x0.end, -s / (e - s), 1e-14);
  }
  assert.ok(d.steps.length >= 4);
  for (const step of d.steps) {
    assert.ok(step.description.length > 0 && step.latex.length > 0);
    assert.doesNotMatch(step.latex, /undefined|NaN/);
  }
  assert.match(d.steps[1].latex, /\\epsilon_k = \\frac/);
  assert.match(d.steps[2].latex, /e_k/);
});

Deno.test("the RF closed form gives the §4.9 anchors and shows the printed Eq. 15 is γ_e", () => {
  const rf = deriveRectifiedFlowStart();
  const a = rf.evaluate(1 / 3), b = rf.evaluate(2 / 3);
  assertClose(a.start, Math.SQRT2 - 1, 1e-15);
  assertClose(a.c, 0.87867966, 1e-8);
  assertClose(a.alpha, 0.29289322, 1e-8);
  assertClose(b.start, (8 - 2 * Math.SQRT2) / 7, 1e-15);
  assertClose(b.c, 0.78361162, 1e-8);
  assertClose(b.alpha, 0.52240775, 1e-8);
  for (const e of [0.1, 0.4, 0.8]) assertClose(rf.evaluate(e).printed, 1 - e, 1e-14);
});

Deno.test("a reader's own schedule: derivations of cos/sin (trigflow) match its numeric schedule", () => {
  const expressions = { gamma: "cos(t * pi / 2)", sigma: "sin(t * pi / 2)" };
  const schedule = scheduleFromExpressions(expressions, "trigflow");
  assertClose(schedule.gamma(0.5), Math.SQRT1_2, 1e-15);
  assertClose(schedule.at(0.5).dSigma, (Math.PI / 2) * Math.cos(Math.PI / 4), 1e-14);
  assertClose(schedule.tOfLambda(schedule.lambda(0.3)), 0.3, 1e-12);
  // λ = ln cot(πt/2), so the corrected start solves cot(πs/2) = cot(πe/2)/√2
  const s = correctedStart(schedule, 0.4);
  assertClose(
    1 / Math.tan((Math.PI * s) / 2),
    1 / Math.tan((Math.PI * 0.4) / 2) / Math.SQRT2,
    1e-12,
  );
  const check = checkDerivations(schedule);
  assert.ok(
    check.stagePair < 1e-12 && check.velocity < 1e-12 && check.transition < 1e-12,
    JSON.stringify(check),
  );
  const v = deriveVelocity(expressions);
  assertClose(v.evaluate(0.25).dGamma, -(Math.PI / 2) * Math.sin(Math.PI / 8), 1e-14);
  const tr = deriveTransition(expressions);
  assertClose(tr.evaluate(0.4, s).c, Math.cos((Math.PI * s) / 2) / Math.cos(0.2 * Math.PI), 1e-14);
  assertClose(tr.evaluate(0.4, s).alpha, Math.sin((Math.PI * s) / 2) / Math.SQRT2, 1e-14);
});

Deno.test("derivations reject malformed expressions, naming them", () => {
  assertThrowsWith(
    () => deriveStagePair({ gamma: "1 - (t", sigma: "t" }),
    /gamma\(t\) = "1 - \(t" is not a mathjs expression/,
  );
  assertThrowsWith(
    () => deriveStagePair({ gamma: "1 - t" } as never),
    /schedule expressions must be \{ gamma: string, sigma: string \}/,
  );
  assertThrowsWith(
    () => checkDerivations(vpSchedule({ beta: "linear", discrete: true })),
    /schedule vp-linear-1000 has no closed-form expressions/,
  );
});
