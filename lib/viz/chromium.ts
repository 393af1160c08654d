/**
 * Opens an HTML file in headless Chromium (Debian's `chromium`) and reports what was drawn and
 * whether the page or its console had errors.
 *
 * @module
 */

/** What {@link checkInChromium} found. */
export interface BrowserCheck {
  /** Plots the page says it drew (`data-plots-drawn`). */
  plotsDrawn: number;
  /** Plots it meant to draw (`data-plots-expected`). */
  plotsExpected: number;
  /** Plotly SVG roots in the final DOM (several per plot). */
  svgCount: number;
  /** Elements Plotly has drawn into (class `js-plotly-plot`), one per plot. */
  drawnPlots: number;
  /** Script errors caught on the page and console errors Chromium logged. */
  errors: string[];
  /** Every `data-*` attribute the page left on its `<body>` (e.g. `rawMath`), by camel-case name. */
  data: Record<string, string>;
}

/**
 * Loads a file in headless Chromium and inspects the final DOM.
 *
 * @param path the HTML file
 * @param options the browser binary (default `CHROMIUM` or `/usr/bin/chromium`) and a time budget
 * @returns the plots drawn and the errors
 */
export async function checkInChromium(
  path: string,
  options: { browser?: string; budgetMs?: number } = {},
): Promise<BrowserCheck> {
  const browser = options.browser ?? Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
  const profile = await Deno.makeTempDir({ prefix: "tpdiff-chromium-" });
  try {
    const url = new URL(`file://${await Deno.realPath(path)}`).href;
    const out = await new Deno.Command(browser, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        "--enable-logging=stderr",
        "--v=0",
        `--virtual-time-budget=${options.budgetMs ?? 15000}`,
        "--dump-dom",
        url,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dom = new TextDecoder().decode(out.stdout);
    const log = new TextDecoder().decode(out.stderr);
    const body = dom.match(/<body[^>]*>/)?.[0] ?? "";
    const attr = (name: string) => body.match(new RegExp(`${name}="([^"]*)"`))?.[1];
    const errors: string[] = [];
    const pageErrors = attr("data-errors");
    if (pageErrors) errors.push(pageErrors);
    for (const line of log.split("\n")) {
      if (/CONSOLE/.test(line) && /error|uncaught/i.test(line)) errors.push(line.trim());
    }
    if (!out.success && dom.length === 0) {
      errors.push(`chromium exited with ${out.code}: ${log.slice(-500)}`);
    }
    const data: Record<string, string> = {};
    for (const [, name, value] of body.matchAll(/\bdata-([a-z0-9-]+)="([^"]*)"/g)) {
      data[name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())] = value;
    }
    return {
      data,
      plotsDrawn: Number(attr("data-plots-drawn") ?? 0),
      plotsExpected: Number(attr("data-plots-expected") ?? NaN),
      svgCount: (dom.match(/class="main-svg"/g) ?? []).length,
      drawnPlots: (dom.match(/class="[^"]*\bjs-plotly-plot\b[^"]*"/g) ?? []).length,
      errors,
    };
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}
