/**
 * The presentation of results: the self-contained `report.html` and its tables (`html.ts`), the
 * experiment's report built from an experiment folder (`experiment.ts`), views of collected runs
 * shaped for the figure builders of `lib/plots/` (`run_views.ts`), figures of a data root's
 * images (`sample_figures.ts`), and the tables and report of a control (`controls.ts`).
 *
 * @module
 */
export * from "./html.ts";
export * from "./experiment.ts";
export * from "./run_views.ts";
export * from "./sample_figures.ts";
export * from "./controls.ts";
