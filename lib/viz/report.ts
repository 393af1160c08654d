/**
 * Self-contained HTML reports: Plotly figures (with plotly.js inlined once), images as data URIs,
 * tables and text. The page records how many plots it drew and any script error on `<body>`
 * (`data-plots-drawn`, `data-errors`), so that a headless browser can check it.
 *
 * @module
 */
import { bytesToBase64 } from "../base64.ts";
import type { PlotlyFigure } from "./figures.ts";

/** One section of a report. */
export interface ReportSection {
  /** The section heading. */
  heading: string;
  /** Trusted HTML (already escaped) shown first. */
  html?: string;
  /** Plain text paragraphs (escaped). */
  text?: string[];
  /** Figures drawn with Plotly. */
  figures?: PlotlyFigure[];
  /** Images: a data URI or relative path, and a caption; `video` shows it as a looping, muted
   * `<video>` (an MP4) instead of an `<img>`. */
  images?: { src: string; caption: string; width?: number; video?: boolean }[];
  /** A table. */
  table?: { columns: string[]; rows: (string | number)[][] };
}

/**
 * Escapes text for HTML.
 *
 * @param text the text
 * @returns the escaped text
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The minified plotly.js source from `npm:plotly.js-dist-min` (about 4.8 MB), to inline once.
 *
 * @returns the script's source
 */
export async function loadPlotlySource(): Promise<string> {
  const module = await import("plotly.js-dist-min/plotly.min.js", { with: { type: "text" } });
  return module.default as string;
}

/**
 * A data URI for bytes.
 *
 * @param bytes the file's bytes
 * @param mime its type, e.g. `image/gif`
 * @returns `data:<mime>;base64,...`
 */
export function dataUri(bytes: Uint8Array, mime: string): string {
  return `data:${mime};base64,${bytesToBase64(bytes)}`;
}

function cell(v: string | number): string {
  return `<td>${escapeHtml(typeof v === "number" ? formatNumber(v) : String(v))}</td>`;
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : Number(v.toPrecision(4)).toString();
}

/** One section's HTML; its figures are appended to `figures` and drawn by id. */
function sectionHtml(s: ReportSection, figures: PlotlyFigure[]): string {
  const parts = [`<h2>${escapeHtml(s.heading)}</h2>`];
  if (s.html) parts.push(s.html);
  for (const p of s.text ?? []) parts.push(`<p>${escapeHtml(p)}</p>`);
  if (s.table) {
    parts.push(
      `<table><thead><tr>${
        s.table.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("")
      }</tr></thead><tbody>` +
        s.table.rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("") + "</tbody></table>",
    );
  }
  for (const f of s.figures ?? []) {
    parts.push(`<div class="plot" id="plot-${figures.length}"></div>`);
    figures.push(f);
  }
  if (s.images?.length) {
    parts.push(
      `<div class="images">` + s.images.map((im) => {
        const width = im.width ? ` width="${im.width}"` : "";
        const media = im.video
          ? `<video src="${escapeHtml(im.src)}" autoplay loop muted playsinline${width}></video>`
          : `<img src="${escapeHtml(im.src)}" alt="${escapeHtml(im.caption)}"${width}>`;
        return `<figure>${media}<figcaption>${escapeHtml(im.caption)}</figcaption></figure>`;
      }).join("") + `</div>`,
    );
  }
  return `<section>${parts.join("\n")}</section>`;
}

/**
 * Renders a report as one HTML page.
 *
 * @param report title, sections, and the plotly.js source to inline
 * @returns the HTML
 */
export function renderReport(report: {
  title: string;
  subtitle?: string;
  sections: ReportSection[];
  plotly: string;
}): string {
  const figures: PlotlyFigure[] = [];
  const body = report.sections.map((s) => sectionHtml(s, figures)).join("\n");
  const json = JSON.stringify(figures).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(report.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } .subtitle { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0 1em; } td, th { border: 1px solid #ddd; padding: 3px 9px; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.images { display: flex; flex-wrap: wrap; gap: 12px; } figure { margin: 0; } figcaption { font-size: 12px; color: #555; }
img { image-rendering: pixelated; } section { margin-bottom: 2em; }
</style>
<script>
window.addEventListener("error", (e) => {
  const b = document.body; b.dataset.errors = (b.dataset.errors ? b.dataset.errors + " | " : "") + e.message;
});
</script>
<script>${report.plotly.replace(/<\/script/gi, "<\\/script")}</script>
</head><body>
<h1>${escapeHtml(report.title)}</h1>
${report.subtitle ? `<p class="subtitle">${escapeHtml(report.subtitle)}</p>` : ""}
${body}
<script>
(async () => {
  const figures = ${json};
  let drawn = 0;
  for (let i = 0; i < figures.length; i++) {
    await Plotly.newPlot("plot-" + i, figures[i].data, figures[i].layout, { responsive: true, displaylogo: false });
    drawn++;
  }
  document.body.dataset.plotsDrawn = String(drawn);
  document.body.dataset.plotsExpected = String(figures.length);
})().catch((e) => { document.body.dataset.errors = String(e && e.message || e); });
</script>
</body></html>
`;
}
