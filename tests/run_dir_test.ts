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

Deno.test("a log whose last line was cut short reads without it; a broken line is named", async () => {
  const dir = await Deno.makeTempDir();
  const run = new RunDir(`${dir}/run`);
  await run.create();
  await run.append({ type: "step", epoch: 1, step: 10, loss: 1, ce: 1, cam: 0, acc: 0.5 });
  // An append interrupted by a kill: no newline after the last, partial record.
  await Deno.writeTextFile(run.log, '{"type":"step","epoch":1,"st', { append: true });
  assert.deepEqual((await run.readLog()).map((r) => r.type === "step" && r.step), [10]);
  await run.truncateLog(1);
  await run.append({ type: "step", epoch: 1, step: 11, loss: 1, ce: 1, cam: 0, acc: 0.5 });
  assert.deepEqual((await run.readLog()).map((r) => r.type === "step" && r.step), [10, 11]);
  // A broken line before the end is not an interrupted append.
  await Deno.writeTextFile(run.log, '{"type":"st\n{"type":"error","message":"x","time":"t"}\n');
  await assert.rejects(run.readLog(), /run\/log\.jsonl:1: not a log record \(a line of JSON\)/);
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
