/**
 * Collecting human saliency maps (`deno task annotate`): the annotation server and page, the
 * on-disk store, the merge into `heatmaps/`, a demo study and its figure.
 *
 * @module
 */
export * from "./store.ts";
export * from "./server.ts";
export * from "./merge.ts";
export * from "./demo.ts";
export * from "./figure.ts";
export { annotatePageHtml, SHORTCUTS } from "./page.ts";
