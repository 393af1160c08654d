/**
 * Figures and media: Plotly figures as plain JSON, self-contained HTML reports, PNG frame strips
 * and animated GIFs, and a headless-Chromium check for reports. Nothing here touches tfjs or
 * `Deno.jupyter`.
 *
 * @module
 */
export * from "./figures.ts";
export * from "./report.ts";
export * from "./png.ts";
export * from "./gif.ts";
export * from "./chromium.ts";
export * from "./display.ts";
export * from "./svg.ts";
export * from "./samples.ts";
