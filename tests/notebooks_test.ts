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

const python = "/usr/bin/python3";
const hasJupyter = (() => {
  try {
    return new Deno.Command(python, { args: ["-c", "import jupyter_client"], stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "the repo's kernelspec lists and runs a cell with no deno on the PATH",
  ignore: !hasJupyter,
  fn: async () => {
    const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
    // A PATH without deno (Jupyter and npx live in /usr/bin; deno never does here).
    const env = {
      HOME: Deno.env.get("HOME") ?? "/tmp",
      PATH: "/usr/bin:/bin",
      JUPYTER_PATH: `${root}/jupyter`,
    };
    const which = await new Deno.Command("/bin/sh", {
      args: ["-c", "command -v deno || echo none"],
      env,
      clearEnv: true,
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(which.stdout).trim(), "none");
    const list = await new Deno.Command(python, {
      args: ["-m", "jupyter_client.kernelspecapp", "list"],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "null",
    }).output();
    assert.match(
      new TextDecoder().decode(list.stdout),
      new RegExp(`deno\\s+${root}/jupyter/kernels/deno`),
    );
    // Deno's kernel may report idle before the result arrives: wait for the result itself.
    const script = [
      "from jupyter_client.manager import start_new_kernel",
      "km, kc = start_new_kernel(kernel_name='deno', startup_timeout=300)",
      "msg_id = kc.execute('const x: number = 6 * 7; x')",
      "while True:",
      "  msg = kc.get_iopub_msg(timeout=300)",
      "  if msg['parent_header'].get('msg_id') == msg_id and msg['msg_type'] == 'execute_result':",
      "    print(msg['content']['data']['text/plain'])",
      "    break",
      "kc.stop_channels(); km.shutdown_kernel(now=True)",
    ].join("\n");
    const run = await new Deno.Command(python, {
      args: ["-c", script],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
    assert.equal(new TextDecoder().decode(run.stdout).trim(), "42");
  },
});
