import assert from "node:assert/strict";
import { readJsonIfExists, RunDir, writeJson } from "../lib/run_dir.ts";

Deno.test("log appends, reads back, and truncates to a completed epoch on resume", async () => {
  const dir = await Deno.makeTempDir();
  const run = new RunDir(`${dir}/run`);
  await run.create();
  await run.append({ type: "step", epoch: 1, step: 10, loss: 1, ce: 1, cam: 0, acc: 0.5 });
  await run.append({ type: "step", epoch: 2, step: 20, loss: 1, ce: 1, cam: 0, acc: 0.5 });
  await run.append({ type: "error", message: "x", time: "t" });
  assert.equal((await run.readLog()).length, 3);
  await run.truncateLog(1);
  const log = await run.readLog();
  assert.equal(log.length, 1);
  assert.equal(log[0].type === "step" && log[0].epoch, 1);
  await writeJson(run.summary, { a: 1 });
  assert.deepEqual(await readJsonIfExists(run.summary), { a: 1 });
  assert.equal(await readJsonIfExists(`${dir}/none.json`), undefined);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("an unwritable output folder is a clear error naming the option (default output)", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/file`, "");
  await assert.rejects(
    new RunDir(`${dir}/file/run`).create(),
    /^Error: output: cannot write to .*file\/run/,
  );
  await assert.rejects(
    new RunDir(`${dir}/file/run`).create("--output"),
    /^Error: --output: cannot write to .*file\/run/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("RunDir names every file of the run-folder format", () => {
  const r = new RunDir("/x/run");
  assert.deepEqual(
    [
      r.config,
      r.log,
      r.checkpoints,
      r.lastCheckpoint,
      r.bestCheckpoint,
      r.valScores,
      r.summary,
      r.evalDir,
      r.evalScores("unseen_dots"),
      r.meanCams,
    ],
    [
      "/x/run/config.json",
      "/x/run/log.jsonl",
      "/x/run/checkpoints",
      "/x/run/checkpoints/last.safetensors",
      "/x/run/checkpoints/best.safetensors",
      "/x/run/val_scores.csv",
      "/x/run/summary.json",
      "/x/run/eval",
      "/x/run/eval/unseen_dots.csv",
      "/x/run/eval/mean_cams.json",
    ],
  );
});
