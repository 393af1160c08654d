/**
 * `deno task notebooks`: executes every notebook in `notebooks/` headless on the repo-local Deno
 * kernel (`jupyter/kernels/deno`), keeps every output, stops at the first error cell, and writes the
 * executed notebooks in place. `--check` type-checks their code cells instead (extracted to
 * `notebooks/.extracted/*.ts`); `--html` (`deno task notebooks:html`) exports them to
 * self-contained HTML under `out/notebooks/` and checks each in headless Chromium.
 *
 * Needs Debian's Jupyter packages on `/usr/bin/python3`:
 * `apt-get install -y --no-install-recommends jupyter-client python3-nbclient python3-nbconvert python3-nbformat jupyter-nbconvert`.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkInChromium, loadPlotlySource, plotlyScript } from "../lib/viz/mod.ts";
import { type FlagSpec, helpText, parseFlags, runTask, UsageError } from "../lib/cli.ts";

const FLAGS: Record<string, FlagSpec> = {
  check: { type: "boolean", help: "type-check the code cells instead of running them" },
  html: { type: "boolean", help: "export to HTML under out/notebooks/ and check it in Chromium" },
  timeout: { type: "string", help: "seconds per cell", default: "600" },
  help: { type: "boolean", help: "show this help" },
};

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const PYTHON = "/usr/bin/python3";

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: root,
    env,
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return (await child.status).code;
}

function notebooks(names: string[]): string[] {
  const all = [...Deno.readDirSync(join(root, "notebooks"))]
    .filter((e) => e.isFile && /^\d\d_.*\.ipynb$/.test(e.name))
    .map((e) => e.name)
    .sort();
  if (names.length === 0) return all.map((n) => `notebooks/${n}`);
  return names.map((name) => {
    const match = all.find((n) => n === name || n.startsWith(name) || `notebooks/${n}` === name);
    if (match === undefined) {
      throw new UsageError(`no notebook matches ${JSON.stringify(name)}; have ${all.join(", ")}`);
    }
    return `notebooks/${match}`;
  });
}

async function checkPython(modules: string): Promise<void> {
  const ok = await new Deno.Command(PYTHON, {
    args: ["-c", `import ${modules}`],
    stdout: "null",
    stderr: "null",
  })
    .output().then((o) => o.success).catch(() => false);
  if (!ok) {
    throw new UsageError(
      `${PYTHON} cannot import ${modules}; install Debian's Jupyter packages: apt-get install -y ` +
        "--no-install-recommends jupyter-client python3-nbclient python3-nbconvert python3-nbformat jupyter-nbconvert",
    );
  }
}

interface Notebook {
  cells: { cell_type: string; source: string | string[] }[];
}

async function typeCheck(paths: string[]): Promise<number> {
  const dir = join(root, "notebooks", ".extracted");
  await Deno.mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const path of paths) {
    const nb: Notebook = JSON.parse(await Deno.readTextFile(join(root, path)));
    const code = nb.cells.filter((c) => c.cell_type === "code")
      .map((c, i) =>
        `// ---- cell ${i + 1}\n${Array.isArray(c.source) ? c.source.join("") : c.source}`
      )
      .join("\n\n")
      .replaceAll(/from "\.\.\/(lib|tasks)\//g, 'from "../../$1/');
    const file = join(dir, path.replace(/^notebooks\//, "").replace(/\.ipynb$/, ".ts"));
    await Deno.writeTextFile(
      file,
      `// Extracted from ${path} by deno task notebooks --check.\n${code}\nexport {};\n`,
    );
    files.push(file);
  }
  return await run(Deno.execPath(), ["check", ...files]);
}

/** Where Debian's libjs-mathjax puts MathJax 2, which nbconvert's HTML loads by default. */
const MATHJAX = "/usr/share/javascript/mathjax/MathJax.js";

/**
 * A script for the exported page: after MathJax has typeset (or at load, without MathJax) it
 * counts the `$` left in the rendered Markdown and LaTeX outputs (code excluded) and the GIFs that
 * decoded, into `data-raw-math`, `data-mathjax` and `data-gifs` on `<body>`.
 */
const PAGE_CHECK = `<script>
window.addEventListener("load", function () {
  function count() {
    var raw = 0;
    document.querySelectorAll(".jp-RenderedMarkdown, .jp-RenderedLatex").forEach(function (el) {
      var copy = el.cloneNode(true);
      copy.querySelectorAll("script, style, code, pre").forEach(function (x) { x.remove(); });
      raw += (copy.textContent.match(/\\$/g) || []).length;
    });
    var gifs = Array.prototype.filter.call(document.querySelectorAll('img[src^="data:image/gif"]'),
      function (img) { return img.complete && img.naturalWidth > 0; }).length;
    document.body.dataset.rawMath = String(raw);
    document.body.dataset.mathjax = String(!!(window.MathJax && window.MathJax.Hub));
    document.body.dataset.gifs = String(gifs);
  }
  if (window.MathJax && window.MathJax.Hub) window.MathJax.Hub.Queue(count); else count();
});
</script>`;

async function exportHtml(paths: string[]): Promise<number> {
  await checkPython("nbconvert");
  try {
    Deno.statSync(MATHJAX);
  } catch {
    throw new UsageError(
      `the HTML export typesets formulas with Debian's MathJax, and ${MATHJAX} is missing: ` +
        "apt-get install -y --no-install-recommends libjs-mathjax",
    );
  }
  const outDir = join(root, "out", "notebooks");
  await Deno.mkdir(outDir, { recursive: true });
  const plotly = plotlyScript(await loadPlotlySource());
  const capture = `<script>window.addEventListener("error", function (e) {
  document.documentElement.dataset.errors = (document.documentElement.dataset.errors || "") + e.message + " | ";
});</script>`;
  let failures = 0;
  for (const path of paths) {
    const code = await run(PYTHON, [
      "-m",
      "nbconvert",
      "--to",
      "html",
      "--output-dir",
      outDir,
      path,
    ]);
    if (code !== 0) return code;
    const file = join(outDir, path.replace(/^notebooks\//, "").replace(/\.ipynb$/, ".html"));
    const html = await Deno.readTextFile(file);
    const expected = {
      plots: (html.match(/class="tpdiff-plot"/g) ?? []).length,
      gifs: (html.match(/<img src="data:image\/gif/g) ?? []).length,
    };
    await Deno.writeTextFile(
      file,
      html.replace("<head>", () => `<head>\n${capture}\n${plotly}`)
        .replace("</body>", () => `${PAGE_CHECK}\n</body>`),
    );
    if (!reportPage(file, await checkInChromium(file, { budgetMs: 30000 }), expected)) failures++;
  }
  return failures === 0 ? 0 : 1;
}

/** Prints what the browser found on one exported page; false when something is missing. */
function reportPage(
  file: string,
  check: Awaited<ReturnType<typeof checkInChromium>>,
  expected: { plots: number; gifs: number },
): boolean {
  const { errors, data } = check;
  const rawMath = Number(data.rawMath ?? NaN), gifs = Number(data.gifs ?? NaN);
  const ok = errors.length === 0 && check.drawnPlots === expected.plots &&
    data.mathjax === "true" && rawMath === 0 && gifs === expected.gifs;
  console.log(
    `${file}: ${check.drawnPlots} of ${expected.plots} plots drawn, ${gifs} of ${expected.gifs} ` +
      `GIFs shown, MathJax ${data.mathjax === "true" ? "loaded" : "missing"}, ${rawMath} raw $ ` +
      `left in the text, ${errors.length} errors${ok ? "" : " (FAILED)"}`,
  );
  for (const e of errors) console.log(`  ${e}`);
  return ok;
}

async function main(): Promise<number> {
  const flags = parseFlags(Deno.args.filter((a) => a.startsWith("--")), FLAGS);
  if (flags.help) {
    console.log(helpText("deno task notebooks [--check | --html] [NOTEBOOK...]", FLAGS));
    return 0;
  }
  const paths = notebooks(Deno.args.filter((a) => !a.startsWith("--")));
  if (flags.check) return await typeCheck(paths);
  if (flags.html) return await exportHtml(paths);
  await checkPython("jupyter_client, nbformat");
  const denoDir = dirname(Deno.execPath());
  const env = {
    PATH: `${denoDir}:${Deno.env.get("PATH") ?? ""}`,
    JUPYTER_PATH: join(root, "jupyter"),
    TPDIFF_INLINE_PLOTLY: "0",
    NO_COLOR: "1",
  };
  const code = await run(PYTHON, [
    join(root, "tasks", "run_notebooks.py"),
    "--timeout",
    String(flags.timeout ?? "600"),
    ...paths,
  ], env);
  if (code !== 0) return code;
  return await run(Deno.execPath(), ["fmt", "--quiet", ...paths]);
}

if (import.meta.main) await runTask(main);
