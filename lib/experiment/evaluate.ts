/**
 * Scores a finished run on every test set: `eval/<set>.csv` and `eval/mean_cams.json`.
 *
 * @module
 */
import { getBackbone } from "../backbones/registry.ts";
import { loadCheckpoint } from "../checkpoint.ts";
import type { TrainConfig } from "../config.ts";
import { openDataset } from "../data/dataset.ts";
import { predict, scoresCsv } from "../evaluate.ts";
import { exists, readJsonIfExists, RunDir, writeAtomic, writeJson } from "../run_dir.ts";
import type { TestSet } from "./test_sets.ts";

/** Mean normalised CAM of one test set, per class, at the CAM grid (`eval/mean_cams.json`). */
export interface MeanCam {
  /** Grid side. */
  grid: number;
  /** Mean over the set's reals (absent when it has none). */
  real?: number[];
  /** Mean over the set's fakes (absent when it has none). */
  fake?: number[];
}

/**
 * Scores every test set with the run's best checkpoint: `eval/<set>.csv` (path,label,score) and
 * `eval/mean_cams.json` (mean normalised CAM per test set and class). Skips sets already scored.
 */
export async function evaluateRun(
  runDir: string,
  cfg: TrainConfig,
  testSets: readonly TestSet[],
): Promise<void> {
  const run = new RunDir(runDir);
  const camsPath = run.meanCams;
  const todo: TestSet[] = [];
  for (const t of testSets) {
    if (!(await exists(run.evalScores(t.name)))) todo.push(t);
  }
  if (todo.length === 0 && (await exists(camsPath))) return;
  await Deno.mkdir(run.evalDir, { recursive: true });
  const entry = getBackbone(cfg.network);
  const inputSize = cfg.inputSize ?? entry.spec.inputSize;
  const model = entry.build({ seed: cfg.seed, inputSize });
  await loadCheckpoint(run.bestCheckpoint, model, null);
  const cams = (await readJsonIfExists<Record<string, MeanCam>>(camsPath)) ?? {};
  for (const t of testSets) {
    if (!todo.includes(t) && cams[t.name]) continue;
    const ds = await openDataset({
      csv: t.csv,
      imageRoot: cfg.dataset,
      split: "test",
      inputSize,
      mean: entry.spec.mean,
      std: entry.spec.std,
    });
    const p = await predict(model, ds, {
      batchSize: 64,
      cams: { tap: cfg.camTap, camClass: cfg.camClass },
    });
    await writeAtomic(run.evalScores(t.name), scoresCsv(p));
    const g = p.camGrid!;
    const entryCams: MeanCam = { grid: g };
    for (const [cls, key] of [[0, "real"], [1, "fake"]] as const) {
      const sum = new Float64Array(g * g);
      let n = 0;
      for (let i = 0; i < p.labels.length; i++) {
        if (p.labels[i] !== cls) continue;
        n++;
        for (let j = 0; j < g * g; j++) sum[j] += p.cams![i * g * g + j];
      }
      if (n) entryCams[key] = Array.from(sum, (v) => v / n);
    }
    cams[t.name] = entryCams;
  }
  await writeJson(camsPath, cams);
  model.store.dispose();
}
