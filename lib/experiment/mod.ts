/**
 * The paper's experiment as data and one resumable loop: four training strategies × seeds × data
 * variants, each run trained with `train` (lib/train.ts) and then scored on every test set.
 *
 * Folder layout (everything needed to redraw every figure without retraining):
 *
 *     <out>/<variant>/<strategy>/s<seed>/      a run folder (config.json, log.jsonl, checkpoints/, ...)
 *     <out>/<variant>/<strategy>/s<seed>/eval/<test set>.csv    path,label,score of the best checkpoint
 *     <out>/<variant>/<strategy>/s<seed>/eval/mean_cams.json    mean CAM per test set (CAM grid)
 *
 * Files: `strategies.ts` (the strategies), `run_config.ts` (what to run, each run's folder and
 * config), `test_sets.ts`, `evaluate.ts` (scoring a run), `runner.ts` (the loop, the experiment
 * folder, the input check), `human_maps.ts` (the mean human map), `embedded.ts` (the embedded
 * benchmark), `cam_metrics.ts` (CAM metrics of a folder of runs: the decision CAM's share in the
 * ground-truth artifact regions and the decoy, the CAM-MSE against its template floor),
 * `controls.ts` (the pre-registered controls: evaluate one, run a preset's, read one back).
 *
 * @module
 */
export { PAPER_STRATEGIES, STRATEGIES, type Strategy, type StrategyName } from "./strategies.ts";
export * from "./run_config.ts";
export * from "./test_sets.ts";
export * from "./evaluate.ts";
export * from "./runner.ts";
export * from "./human_maps.ts";
export * from "./embedded.ts";
export * from "./cam_metrics.ts";
export * from "./controls.ts";
