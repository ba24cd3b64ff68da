/**
 * The CYBORG experiment kit: train synthetic-face detectors with
 * `loss = α·CE + (1−α)·MSE(CAM, human saliency map)` (Boyd et al., WACV 2023) on TensorFlow.js.
 *
 * @example Train a small CYBORG model on the embedded benchmark (a few steps)
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CONFIG, ensureEmbeddedData, getPreset, initBackend, train } from "./mod.ts";
 *
 * await initBackend();
 * const [variant] = await ensureEmbeddedData(getPreset("smoke")); // generated on first use
 * const out = await Deno.makeTempDir();
 * const summary = await train({
 *   ...DEFAULT_CONFIG,
 *   network: "minicnn",
 *   inputSize: 32,
 *   alpha: 0.5, // CYBORG; 1 is the cross-entropy baseline
 *   csv: `${variant.root}/csvs/original.csv`,
 *   dataset: variant.root,
 *   heatmaps: `${variant.root}/heatmaps`,
 *   epochs: 1,
 *   maxSteps: 3,
 *   batchSize: 8,
 * }, { output: `${out}/run`, progress: "silent" });
 * assert.equal(summary.steps, 3);
 * await Deno.remove(out, { recursive: true });
 * ```
 *
 * Plotting, report and notebook helpers are namespaced: `plots.*` (the package `lib/plots/`),
 * `report.*` (the package `lib/report/`), `notebook.*`, `views.*` (figures from run folders,
 * `lib/report/run_views.ts`), `sampleFigures.*` (`lib/report/sample_figures.ts`),
 * `dataSamples.*`, `backboneSummary.*`, `annotate.*`. The helpers the notebooks use are also
 * exported by name (the notebooks import them all from this module), and so is everything of
 * `lib/cam_samples.ts` (CAMs of a model on chosen images).
 *
 * @module
 */
export * from "./backend.ts";
export * from "./rng.ts";
export * from "./nn.ts";
export * from "./backbones/types.ts";
export * from "./backbones/registry.ts";
export * from "./cam.ts";
export * from "./loss.ts";
export * from "./optim.ts";
export * from "./config.ts";
export * from "./presets.ts";
export * from "./train_step.ts";
export * from "./train.ts";
export * from "./evaluate.ts";
export * from "./checkpoint.ts";
export * from "./state_dict.ts";
export * from "./safetensors.ts";
export * from "./weights.ts";
export { decodePth, encodePth, readPth, writePth } from "./pth/mod.ts";
export * from "./pretrained.ts";
export * from "./metrics.ts";
export * from "./stats.ts";
export * from "./claims.ts";
export * from "./experiment_claims.ts";
export * from "./data/types.ts";
export * from "./data/csv.ts";
export * from "./data/dataset.ts";
export * from "./data/loader.ts";
export * from "./experiment/mod.ts";
export * from "./data_identity.ts";
export * from "./results.ts";
export * from "./report/experiment.ts";
export * from "./run_dir.ts";
export * from "./run_pool.ts";
export * from "./webgpu_dawn.ts";
export * from "./progress.ts";
export * as plots from "./plots/mod.ts";
export * as report from "./report/mod.ts";
export * as notebook from "./notebook.ts";
export * as views from "./report/run_views.ts";
export * as sampleFigures from "./report/sample_figures.ts";
export * as dataSamples from "./data/samples.ts";
export * as backboneSummary from "./backbones/summary.ts";
export * as annotate from "./annotate/mod.ts";

// The notebooks' helpers, by name.
export {
  backboneDemoModel,
  controlCamMetrics,
  displayMarkdown,
  ensureControls,
  ensureMeanHumanMaps,
  ensureRuns,
  notebookControls,
  readMeanHumanMaps,
  rootPath,
  startNotebook,
} from "./notebook.ts";
export {
  accuracyCurvesFigure,
  aucByGeneratorFigure,
  camComparisonFigure,
  display,
  heatmapGridFigure,
  imageGridFigure,
  rocFigure,
  scoreHistogramFigure,
} from "./plots/mod.ts";
export {
  aucRecords,
  aucSignificanceTable,
  aucTable,
  camByTestSetGrid,
  camHumanAgreementTable,
  camMetricsBlocks,
  camMetricTaps,
  camMseTable,
  controlAucTable,
  controlCurvesFigure,
  curvesTitle,
  displayBlocks,
  displayTable,
  mapCorrelation,
  mapOverlayFigure,
  perRunCamRows,
  regionShareTable,
  relianceTable,
  rocSeries,
  runCurves,
  sampleGridFigure,
  selectRuns,
  summaryTable,
  trainingLossFigure,
  valAccuracyTable,
  variantPairFigure,
} from "./report/mod.ts";
export { listSamples, meanMapOfFiles, sampleCountTable, samplesBySource } from "./data/samples.ts";
export { backboneSummaries, backboneTable, camTapTable } from "./backbones/summary.ts";
export { annotationStudyView } from "./annotate/mod.ts";
export {
  type CamSample,
  camSampleCells,
  type CamSampleOptions,
  camSamples,
  type ExtraMap,
  loadRunModel,
  mapsIn,
  readMapFile,
} from "./cam_samples.ts";
