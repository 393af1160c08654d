import assert from "node:assert/strict";

const dir = new URL("../notebooks/", import.meta.url);
const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
  /^\d\d_.*\.ipynb$/.test(n)
).sort();

interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: { output_type: string; data?: Record<string, unknown>; text?: string | string[] }[];
}

const text = (s: string | string[]) => (Array.isArray(s) ? s.join("") : s);

Deno.test("notebooks are numbered in order, on the Deno kernel, and open and close with what they teach", async () => {
  assert.ok(names.length >= 4, `${names}`);
  assert.deepEqual(names.map((n) => Number(n.slice(0, 2))), names.map((_, i) => i + 1));
  for (const name of names) {
    const nb = JSON.parse(await Deno.readTextFile(new URL(name, dir)));
    assert.equal(nb.metadata.kernelspec.name, "deno", name);
    const cells: Cell[] = nb.cells;
    assert.match(text(cells[0].source), /\*\*What this notebook teaches\.\*\*/, name);
    assert.match(text(cells.at(-1)!.source), /## What to try next/, name);
  }
});

Deno.test("committed notebooks carry every code cell's output, no errors, and no inlined plotly.js", async () => {
  for (const name of names) {
    const raw = await Deno.readTextFile(new URL(name, dir));
    assert.ok(raw.length < 400_000, `${name} is ${raw.length} bytes`);
    assert.ok(!raw.includes("plotly.js v"), `${name} inlines plotly.js`);
    const cells: Cell[] = JSON.parse(raw).cells;
    for (const [i, cell] of cells.entries()) {
      if (cell.cell_type !== "code") continue;
      assert.ok(!/import\.meta/.test(text(cell.source)), `${name} cell ${i} uses import.meta`);
      assert.ok(!/Deno\.jupyter/.test(text(cell.source)), `${name} cell ${i} touches Deno.jupyter`);
      const outputs = cell.outputs ?? [];
      assert.ok(
        outputs.length > 0 || /^import /m.test(text(cell.source)),
        `${name} cell ${i} has no output`,
      );
      assert.ok(outputs.every((o) => o.output_type !== "error"), `${name} cell ${i} has an error`);
      for (const o of outputs) {
        if (o.data?.["application/vnd.plotly.v1+json"]) {
          assert.ok(o.data["text/html"], `${name} cell ${i}: no HTML fallback`);
        }
      }
    }
  }
});
