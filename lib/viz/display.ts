/**
 * Notebook display objects for Deno's Jupyter kernel. Each returns an object whose
 * `[Symbol.for("Jupyter.display")]()` method yields a MIME bundle, so a cell that ends with one
 * shows it; nothing here touches `Deno.jupyter`, so the module imports anywhere.
 *
 * - {@link plot}: `application/vnd.plotly.v1+json` (VS Code, JupyterLab with Plotly), a `text/html`
 *   fallback, and `text/plain`. The fallback inlines plotly.js once per kernel session, unless
 *   `TPDIFF_INLINE_PLOTLY=0` (the notebook runner sets it, so that committed notebooks stay small;
 *   `deno task notebooks:html` inlines plotly.js once per exported page instead);
 * - {@link image} (PNG or GIF bytes), {@link markdown}, {@link latex} and {@link table}.
 *
 * @module
 */
import { crc32 } from "../data/checksum.ts";
import type { PlotlyFigure } from "./figures.ts";
import { dataUri, escapeHtml, loadPlotlySource } from "./report.ts";

/** The symbol Deno's kernel looks up on a cell's value. */
export const JUPYTER_DISPLAY: symbol = Symbol.for("Jupyter.display");

/** A MIME bundle: MIME type → content. */
export type MimeBundle = Record<string, unknown>;

/** Something a notebook cell can display: `[JUPYTER_DISPLAY]()` returns its MIME bundle. */
export interface Displayable {
  /** The display method, under {@link JUPYTER_DISPLAY}. */
  [key: symbol]: () => MimeBundle | Promise<MimeBundle>;
}

let plotlyInlined = false;
let plotCounter = 0;

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * The `text/html` that draws a figure with plotly.js already on the page (or queued until it is).
 *
 * @param figure the figure
 * @returns the HTML
 */
export function plotHtml(figure: PlotlyFigure): string {
  const height = Number((figure.layout as { height?: number }).height ?? 400);
  const json = JSON.stringify(figure).replace(/</g, "\\u003c");
  // The id depends on the figure and its place in the session only, so that re-executing a
  // notebook writes the same HTML (two plots in one session still get different ids).
  const id = `tpdiff-plot-${crc32(new TextEncoder().encode(json))}-${plotCounter++}`;
  return `<div id="${id}" class="tpdiff-plot" style="height:${height}px"></div>
<script>(function () {
  var f = ${json};
  function draw() { Plotly.newPlot("${id}", f.data, f.layout, { responsive: true, displaylogo: false }); }
  if (window.Plotly) draw(); else (window.__tpdiffPlotlyQueue = window.__tpdiffPlotlyQueue || []).push(draw);
})();</script>`;
}

/**
 * The script tags that load plotly.js inline and draw any queued figures.
 *
 * @param source plotly.js's source (see `loadPlotlySource`)
 * @returns the HTML
 */
export function plotlyScript(source: string): string {
  return `<script>${source.replace(/<\/script/gi, "<\\/script")}</script>
<script>(window.__tpdiffPlotlyQueue || []).forEach(function (d) { d(); }); window.__tpdiffPlotlyQueue = [];</script>`;
}

/**
 * Displays a Plotly figure.
 *
 * @param figure the figure (plain JSON)
 * @returns the display object
 */
export function plot(figure: PlotlyFigure): Displayable {
  return {
    async [JUPYTER_DISPLAY]() {
      let html = plotHtml(figure);
      if (!plotlyInlined && readEnv("TPDIFF_INLINE_PLOTLY") !== "0") {
        html = plotlyScript(await loadPlotlySource()) + html;
        plotlyInlined = true;
      }
      const title = (figure.layout as { title?: { text?: string } }).title?.text ?? "figure";
      return {
        "application/vnd.plotly.v1+json": { data: figure.data, layout: figure.layout },
        "text/html": html,
        "text/plain": `<Plotly figure: ${title}>`,
      };
    },
  };
}

/**
 * Displays an image.
 *
 * @param bytes PNG or GIF file bytes
 * @param options the MIME type (default `image/png`) and a display width in pixels
 * @returns the display object
 */
export function image(
  bytes: Uint8Array,
  options: { mime?: "image/png" | "image/gif"; width?: number; alt?: string } = {},
): Displayable {
  const mime = options.mime ?? "image/png";
  return {
    [JUPYTER_DISPLAY]() {
      const base64 = dataUri(bytes, mime).split(",")[1];
      const bundle: MimeBundle = {
        "text/plain": `<${options.alt ?? mime}, ${bytes.length} bytes>`,
      };
      // nbconvert's HTML export cannot show image/gif (it prints the text/plain line instead), so
      // a GIF goes out as an <img> with its data URI only, which every front end shows (and the
      // notebook holds its bytes once).
      if (mime !== "image/gif") bundle[mime] = base64;
      if (options.width || mime === "image/gif") {
        bundle["text/html"] = `<img src="data:${mime};base64,${base64}"${
          options.width ? ` width="${options.width}"` : ""
        } alt="${escapeHtml(options.alt ?? "")}" style="image-rendering: pixelated">`;
      }
      return bundle;
    },
  };
}

/**
 * Displays Markdown (with `$…$` maths where the front end renders it).
 *
 * @param text the Markdown
 * @returns the display object
 */
export function markdown(text: string): Displayable {
  return { [JUPYTER_DISPLAY]: () => ({ "text/markdown": text, "text/plain": text }) };
}

/**
 * Displays one LaTeX formula as display maths.
 *
 * @param tex LaTeX without delimiters
 * @returns the display object
 */
export function latex(tex: string): Displayable {
  return {
    [JUPYTER_DISPLAY]: () => ({
      "text/latex": `$$${tex}$$`,
      "text/markdown": `$$${tex}$$`,
      "text/plain": tex,
    }),
  };
}

/**
 * Displays a table (HTML, Markdown and plain text).
 *
 * @param columns the header
 * @param rows the rows
 * @returns the display object
 */
export function table(columns: string[], rows: (string | number)[][]): Displayable {
  const show = (v: string | number) =>
    typeof v === "number"
      ? (Number.isInteger(v) ? String(v) : Number(v.toPrecision(5)).toString())
      : v;
  const md = [
    `| ${columns.join(" | ")} |`,
    `| ${columns.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(show).join(" | ")} |`),
  ].join("\n");
  const html = `<table><thead><tr>${
    columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("")
  }</tr></thead><tbody>${
    rows.map((r) => `<tr>${r.map((v) => `<td>${escapeHtml(show(v))}</td>`).join("")}</tr>`).join("")
  }</tbody></table>`;
  return {
    [JUPYTER_DISPLAY]: () => ({ "text/html": html, "text/markdown": md, "text/plain": md }),
  };
}
