/**
 * One table of the paper's equation numbers (TPDiff, arXiv 2503.09566, as docs/tpdiff-math.md reads
 * them), and a check of every citation in the notebooks and in the library's JSDoc against it.
 *
 * @module
 */
import assert from "node:assert/strict";

/** What each equation of the paper is (the numbers docs/tpdiff-math.md uses). */
const EQUATIONS: Record<number, string> = {
  1: "the VP (DDIM) schedule, γ = √ᾱ, σ = √(1 − ᾱ)",
  3: "the DDIM update",
  4: "rectified flow, γ = 1 − t, σ = t",
  5: "the training objective and its time law",
  6: "the schedule family x_t = γ_t x₀ + σ_t ε",
  7: "the stage start point x̂_s",
  8: "the stage end point x̂_e",
  9: "the partitioned PF-ODE's integral",
  10: "x_t on the stage path, the solution with ε_k held constant",
  11: "the stage's noise ε_k",
  12: "rectified flow's linear interpolation on the stage",
  13: "the flow-matching target v_k = x̂_s − x̂_e",
  14: "the transition's Up and mean",
  15: "the transition's mean coefficient (printed wrongly)",
  16: "the transition's noise correlation",
  18: "the appendix's start law",
  19: "the appendix's covariance matching",
  20: "the appendix's linear transform",
  21: "the appendix's printed VP coefficients",
  22: "the appendix's corrected start",
};

/**
 * The subjects a citation may follow, and the equations each may cite: the subject named last
 * before a citation decides which numbers it may carry.
 */
const SUBJECTS: [RegExp, number[]][] = [
  [/end points?|endpoints|start point/g, [7, 8]],
  [/v_k|velocity/g, [13]],
  [/ε_k|\\epsilon_k|"epsilon"|stage's noise/g, [10, 11]],
  [/x̂_s − x̂_e|\\hat x_\{s_k\}-\\hat x_\{e_k\}/g, [13]],
  [/rectified flow/gi, [4, 12, 13]],
  [/\bDDIM\b/g, [1, 3, 11]],
  [/\bddim\b/g, [3]],
  [/training targets/g, [7, 8, 9, 10, 11, 12, 13]],
  [/√ᾱ|\\bar\\alpha/g, [1]],
  [/stage path|PF-ODE|solution/g, [9, 10, 11, 12]],
  [/transition|renois|anti-correlated|printed/g, [14, 15, 16]],
  [/[Cc]ovariance matching/g, [18, 19, 20, 21, 22]],
  [/family/g, [6]],
];

/** The numbers the subject named last in `before` allows, or undefined when none is named. */
function allowedAfter(before: string): { subject: string; numbers: number[] } | undefined {
  let best: { at: number; subject: string; numbers: number[] } | undefined;
  for (const [pattern, numbers] of SUBJECTS) {
    for (const m of before.matchAll(pattern)) {
      if (best === undefined || m.index! >= best.at) {
        best = { at: m.index!, subject: m[0], numbers };
      }
    }
  }
  return best;
}

/** Every `Eq. N`, `Eqs. N–M` and `Eqs. N, M` with the 100 characters before it. */
function citations(text: string): { numbers: number[]; before: string; cited: string }[] {
  const out: { numbers: number[]; before: string; cited: string }[] = [];
  const pattern = /\bEqs?\.\s?(\d+(?:\s?[–-]\s?\d+)?(?:,\s?\d+(?:\s?[–-]\s?\d+)?)*)/g;
  for (const m of text.matchAll(pattern)) {
    const numbers = m[1].split(",").flatMap((part) => {
      const [a, b] = part.split(/[–-]/).map((s) => Number(s.trim()));
      return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
    });
    out.push({ numbers, before: text.slice(Math.max(0, m.index! - 100), m.index), cited: m[0] });
  }
  return out;
}

/** The notebooks' Markdown and code, and the library's comments, by file. */
async function sources(): Promise<Map<string, string>> {
  const root = new URL("..", import.meta.url);
  const out = new Map<string, string>();
  for (const e of Deno.readDirSync(new URL("notebooks/", root))) {
    if (!/^\d\d_.*\.ipynb$/.test(e.name)) continue;
    const nb = JSON.parse(await Deno.readTextFile(new URL(`notebooks/${e.name}`, root)));
    out.set(
      `notebooks/${e.name}`,
      nb.cells.map((c: { source: string[] | string }) => [c.source].flat().join("")).join("\n"),
    );
  }
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(new URL(dir, root))) {
      if (e.isDirectory) walk(`${dir}${e.name}/`);
      else if (e.name.endsWith(".ts")) {
        const text = Deno.readTextFileSync(new URL(`${dir}${e.name}`, root));
        // Comments only: JSDoc blocks and line comments.
        const comments = [...text.matchAll(/\/\*\*[\s\S]*?\*\/|\/\/[^\n]*/g)].map((m) => m[0]);
        out.set(`${dir}${e.name}`, comments.join("\n"));
      }
    }
  };
  walk("lib/");
  return out;
}

Deno.test("every equation number the notebooks and the JSDoc cite is in the table and fits its subject", async () => {
  const problems: string[] = [];
  let count = 0;
  for (const [file, text] of await sources()) {
    for (const { numbers, before, cited } of citations(text)) {
      count++;
      for (const n of numbers) {
        if (!(n in EQUATIONS)) problems.push(`${file}: ${cited} cites Eq. ${n}, not in the table`);
      }
      // The clause the citation closes: the words since the last sentence or paragraph break.
      const clause = before.split(/[.;:]\s|\n\n/).at(-1) ?? before;
      const allowed = allowedAfter(clause);
      const wrong = allowed && numbers.filter((n) => !allowed.numbers.includes(n));
      if (wrong && wrong.length > 0) {
        problems.push(
          `${file}: "…${
            clause.slice(-60).replace(/\s+/g, " ")
          }" ${cited}: after "${allowed.subject}" ` +
            `cite ${allowed.numbers.map((n) => `Eq. ${n} (${EQUATIONS[n]})`).join(" or ")}`,
        );
      }
    }
  }
  assert.ok(count > 40, `${count} citations found`);
  assert.deepEqual(problems, []);
});

Deno.test("the citation check sees a wrong number", () => {
  const [wrong] = citations("the stage velocity $v_k$ for flow matching (Eq. 12)");
  assert.deepEqual(wrong.numbers, [12]);
  assert.deepEqual(allowedAfter(wrong.before)?.numbers, [13]);
  const [endpoints] = citations("runs between its two end points (Eqs. 8–9)");
  assert.deepEqual(allowedAfter(endpoints.before)?.numbers, [7, 8]);
  assert.deepEqual(citations("end points (Eqs. 7–8) and (Eqs. 1, 4, 6)").map((c) => c.numbers), [
    [7, 8],
    [1, 4, 6],
  ]);
});
