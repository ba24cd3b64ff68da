/**
 * Plotly figures without a network: the figure builders for the experiment's results
 * (`figures.ts`), their display in Jupyter and as self-contained HTML (`display.ts`), image grids
 * and PNG data URLs (`images.ts`), and heatmaps drawn over images (`overlay.ts`).
 *
 * @example A ROC figure as a plain Plotly spec (one curve and the chance line)
 * ```ts
 * import assert from "node:assert/strict";
 * import { rocFigure } from "./mod.ts";
 *
 * const fig = rocFigure([{ name: "CYBORG", roc: { fpr: [0, 0.5, 1], tpr: [0, 0.9, 1] } }]);
 * assert.deepEqual(fig.data.map((t) => t.name), ["CYBORG", "chance (TDR = FDR)"]);
 * ```
 *
 * @module
 */
export * from "./figures.ts";
export * from "./display.ts";
export * from "./images.ts";
export * from "./overlay.ts";
