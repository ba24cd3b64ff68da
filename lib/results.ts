/**
 * Reads a finished (or partly finished) experiment folder back into plain records — accuracy
 * curves, AUC per test generator, scores, mean CAMs — so every figure and table can be redrawn
 * without retraining. Layout: see `experiment/mod.ts`.
 *
 * AUC of a fake test set = ROC AUC of its images (Synthetic) against the pooled real test sets
 * (Real), as the paper evaluates each unseen generator against real faces.
 *
 * @module
 */
import type { MeanCam } from "./experiment/evaluate.ts";
import { STRATEGIES, type StrategyName } from "./experiment/strategies.ts";
import { rocAuc } from "./metrics.ts";
import { parseLog, readJsonIfExists, RunDir } from "./run_dir.ts";
import type { EpochRecord, RunSummary } from "./train.ts";

/** Scores of one test set for one run. */
export interface ScoreSet {
  /** Labels (0 Real, 1 Synthetic). */
  labels: number[];
  /** sigmoid(logit of Synthetic). */
  scores: number[];
  /** Image paths as written in the scores CSV (absent where a set was built by hand). */
  paths?: string[];
}

/** Everything recorded for one run. */
export interface RunResult {
  /** Data variant. */
  variant: string;
  /** Strategy. */
  strategy: StrategyName;
  /** Seed. */
  seed: number;
  /** Run folder. */
  dir: string;
  /** summary.json, when the run finished. */
  summary?: RunSummary;
  /** Epoch records from log.jsonl, in order. */
  epochs: EpochRecord[];
  /** Test-set scores by set name. */
  scores: Record<string, ScoreSet>;
  /** Mean CAMs by test-set name. */
  meanCams: Record<string, MeanCam>;
}

/** One AUC: a run on one fake test set against the pooled reals. */
export interface AucResult {
  /** Data variant. */
  variant: string;
  /** Strategy. */
  strategy: StrategyName;
  /** Seed. */
  seed: number;
  /** Fake test set (generator) name. */
  generator: string;
  /** ROC AUC. */
  auc: number;
}

/** Parses `path,label,score` CSV text. */
export function parseScoresCsv(text: string, source: string): ScoreSet {
  const lines = text.split("\n").filter((l) => l.trim());
  if (lines[0] !== "path,label,score") {
    throw new Error(`${source}:1: expected header path,label,score`);
  }
  const labels: number[] = [];
  const scores: number[] = [];
  const paths: string[] = [];
  lines.slice(1).forEach((l, i) => {
    const parts = l.split(",");
    paths.push(parts.slice(0, -2).join(","));
    const label = Number(parts[parts.length - 2]);
    const score = Number(parts[parts.length - 1]);
    if (!(label === 0 || label === 1) || !Number.isFinite(score)) {
      throw new Error(`${source}:${i + 2}: bad row "${l}"`);
    }
    labels.push(label);
    scores.push(score);
  });
  return { labels, scores, paths };
}

/** Reads every run under an experiment folder (`<out>/<variant>/<strategy>/s<seed>`). */
export async function collectRuns(out: string): Promise<RunResult[]> {
  const runs: RunResult[] = [];
  const names = STRATEGIES.map((s) => s.name as string);
  for (const variant of await subdirs(out)) {
    for (const strategy of await subdirs(`${out}/${variant}`)) {
      if (!names.includes(strategy)) continue;
      for (const s of await subdirs(`${out}/${variant}/${strategy}`)) {
        const m = /^s(\d+)$/.exec(s);
        if (!m) continue;
        const dir = `${out}/${variant}/${strategy}/${s}`;
        runs.push(await readRun(dir, variant, strategy as StrategyName, Number(m[1])));
      }
    }
  }
  const order = (r: RunResult) =>
    `${r.variant}/${names.indexOf(r.strategy)}/${String(r.seed).padStart(4, "0")}`;
  return runs.sort((a, b) => order(a).localeCompare(order(b)));
}

async function readRun(
  dir: string,
  variant: string,
  strategy: StrategyName,
  seed: number,
): Promise<RunResult> {
  const run = new RunDir(dir);
  const summary = await readJsonIfExists<RunSummary>(run.summary);
  const logText = await readText(run.log);
  const epochs = parseLog(logText ?? "", run.log)
    .filter((r): r is EpochRecord => r.type === "epoch");
  const scores: Record<string, ScoreSet> = {};
  const evalDir = run.evalDir;
  for (const f of await files(evalDir)) {
    if (f.endsWith(".csv")) {
      scores[f.slice(0, -4)] = parseScoresCsv(
        await Deno.readTextFile(`${evalDir}/${f}`),
        `${evalDir}/${f}`,
      );
    }
  }
  const meanCams = (await readJsonIfExists<RunResult["meanCams"]>(run.meanCams)) ?? {};
  return { variant, strategy, seed, dir, summary, epochs, scores, meanCams };
}

/** Names of the test sets whose rows are all Real / all Synthetic, from the scores. */
export function splitTestSets(run: RunResult): { real: string[]; fake: string[] } {
  const real: string[] = [];
  const fake: string[] = [];
  for (const [name, s] of Object.entries(run.scores)) {
    if (s.labels.every((l) => l === 0)) real.push(name);
    else if (s.labels.every((l) => l === 1)) fake.push(name);
  }
  return { real: real.sort(), fake: fake.sort() };
}

/**
 * AUC of each fake test set against the pooled real test sets, for every scored run. A fake set
 * `<p>_fake` with a real set `<p>_real` (the positive control's paired tests `t1`–`t3`) is scored
 * against that real set alone, and paired real sets stay out of the pool.
 */
export function aucResults(runs: readonly RunResult[]): AucResult[] {
  const out: AucResult[] = [];
  for (const run of runs) {
    const { real, fake } = splitTestSets(run);
    const partner = (f: string) =>
      f.endsWith("_fake") && real.includes(`${f.slice(0, -5)}_real`)
        ? `${f.slice(0, -5)}_real`
        : undefined;
    const paired = new Set(fake.map(partner).filter((r) => r !== undefined));
    const pooled = real.filter((r) => !paired.has(r)).flatMap((n) => run.scores[n].scores);
    for (const g of fake) {
      const p = partner(g);
      const realScores = p ? run.scores[p].scores : pooled;
      if (!realScores.length) continue;
      const fs = run.scores[g].scores;
      const labels = [...realScores.map(() => 0), ...fs.map(() => 1)];
      out.push({
        variant: run.variant,
        strategy: run.strategy,
        seed: run.seed,
        generator: g,
        auc: rocAuc(labels, [...realScores, ...fs]),
      });
    }
  }
  return out;
}

/** Mean AUC over a run's generators whose names pass `include` (e.g. the unseen ones). */
export function meanAucPerRun(
  aucs: readonly AucResult[],
  include: (generator: string) => boolean,
): { variant: string; strategy: StrategyName; seed: number; auc: number }[] {
  const groups = new Map<string, AucResult[]>();
  for (const a of aucs) {
    if (!include(a.generator)) continue;
    const k = `${a.variant}\u0000${a.strategy}\u0000${a.seed}`;
    groups.set(k, [...(groups.get(k) ?? []), a]);
  }
  return [...groups.values()].map((g) => ({
    variant: g[0].variant,
    strategy: g[0].strategy,
    seed: g[0].seed,
    auc: g.reduce((s, a) => s + a.auc, 0) / g.length,
  }));
}

async function subdirs(path: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(path)) if (e.isDirectory) out.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

async function files(path: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(path)) if (e.isFile) out.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** A test set counts as an unseen generator unless its name starts with "seen". */
export function isUnseen(generator: string): boolean {
  return !generator.startsWith("seen");
}

/**
 * A run's scores on the real test sets pooled with its unseen-generator fake test sets (the
 * images behind the unseen-generator ROC and histograms); undefined when either side is missing.
 */
export function pooledUnseenScores(
  run: RunResult,
  include: (generator: string) => boolean = isUnseen,
): { labels: number[]; scores: number[] } | undefined {
  const { real, fake } = splitTestSets(run);
  const unseen = fake.filter(include);
  if (!real.length || !unseen.length) return undefined;
  const labels: number[] = [];
  const scores: number[] = [];
  for (const n of [...real, ...unseen]) {
    labels.push(...run.scores[n].labels);
    scores.push(...run.scores[n].scores);
  }
  return { labels, scores };
}
