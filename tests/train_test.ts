import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { DEFAULT_CONFIG, type TrainConfig } from "../lib/config.ts";
import { readSafetensors } from "../lib/safetensors.ts";
import { type ResumeMode, train } from "../lib/train.ts";
import { tinyDataRoot } from "./_support/tiny_data.ts";

// Spawned tools resolve against the project root, whatever the test process's cwd (another
// test module in this process may change it).
const PROJECT_ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);

const root = await tinyDataRoot();
await initBackend("cpu");

function config(over: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    network: "tinycnn",
    inputSize: 16,
    alpha: 0.5,
    csv: `${root}/csvs/original.csv`,
    dataset: root,
    heatmaps: `${root}/heatmaps`,
    epochs: 3,
    batchSize: 8,
    lrStepSize: 2,
    logEvery: 2,
    ...over,
  };
}

async function tmp(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "cyborg-run-" });
}

Deno.test("a run writes config, JSONL log, checkpoints, validation scores and summary", async () => {
  const out = `${await tmp()}/run`;
  const s = await train(config(), { output: out, progress: "silent" });
  assert.equal(s.status, "finished");
  assert.equal(s.epochs_done, 3);
  const files = [...Deno.readDirSync(out)].map((e) => e.name).sort();
  assert.deepEqual(files, [
    ".cyborg-kit",
    "checkpoints",
    "config.json",
    "log.jsonl",
    "summary.json",
    "val_scores.csv",
  ]);
  assert.deepEqual([...Deno.readDirSync(`${out}/checkpoints`)].map((e) => e.name).sort(), [
    "best.safetensors",
    "last.safetensors",
  ]);
  const log = (await Deno.readTextFile(`${out}/log.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  const epochs = log.filter((r) => r.type === "epoch");
  assert.deepEqual(epochs.map((r) => r.epoch), [1, 2, 3]);
  // StepLR(2, 0.1): epochs 1-2 at lr, epoch 3 at lr/10.
  assert.deepEqual(epochs.map((r) => +r.lr.toPrecision(6)), [0.005, 0.005, 0.0005]);
  for (const r of epochs) {
    for (const k of ["train_loss", "train_ce", "train_cam", "train_acc", "val_acc", "seconds"]) {
      assert.ok(Number.isFinite(r[k]), `${k} = ${r[k]}`);
    }
    assert.ok(r.train_cam > 0, "α = 0.5 trains the CAM term");
  }
  assert.ok(log.some((r) => r.type === "step"));
  const cfg = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
  assert.equal(cfg.config.alpha, 0.5);
  assert.equal(cfg.backend, "cpu");
  const scores = (await Deno.readTextFile(`${out}/val_scores.csv`)).trim().split("\n");
  assert.equal(scores[0], "path,label,score");
  assert.equal(scores.length - 1, 8); // 4 + 4 validation rows at scale 0.02
  const best = await readSafetensors(`${out}/checkpoints/best.safetensors`);
  const meta = JSON.parse(best.metadata.cyborg);
  assert.equal(meta.bestEpoch, s.best_epoch);
  // Keep-best uses >=: the best epoch is the last one reaching the best accuracy.
  const bestAcc = Math.max(...epochs.map((r) => r.val_acc));
  assert.equal(
    s.best_epoch,
    Math.max(...epochs.filter((r) => r.val_acc === bestAcc).map((r) => r.epoch)),
  );
  // A second start with the same config returns the finished run without training again.
  const again = await train(config(), { output: out, progress: "silent" });
  assert.deepEqual(again, s);
});

Deno.test("a resume with another config is refused, naming the differences; nothing is written", async () => {
  const out = `${await tmp()}/run`;
  await train(config({ epochs: 1 }), { output: out, progress: "silent" });
  const before = await Deno.readTextFile(`${out}/log.jsonl`);
  await assert.rejects(
    train(config({ epochs: 1, alpha: 1 }), { output: out, progress: "silent" }),
    /holds a run with a different config; resume refused[\s\S]*alpha: 0\.5 → 1/,
  );
  assert.equal(await Deno.readTextFile(`${out}/log.jsonl`), before);
});

Deno.test("bad input fails before a run folder exists", async () => {
  const dir = await tmp();
  const cases: [Partial<TrainConfig>, RegExp][] = [
    [{ alpha: 1.5 }, /(?<![-\w])alpha: alpha must be in \[0, 1\], got 1\.5/],
    [{ network: "vgg99" }, /(?<![-\w])network: unknown network "vgg99"/],
    [{ heatmaps: `${dir}/nope` }, /(?<![-\w])heatmaps: .*nope does not exist/],
    [{ csv: `${dir}/nope.csv` }, /(?<![-\w])csv: .*nope\.csv does not exist/],
  ];
  for (const [over, re] of cases) {
    await assert.rejects(train(config(over), { output: `${dir}/run`, progress: "silent" }), re);
    assert.equal(await Deno.stat(`${dir}/run`).then(() => true, () => false), false, String(re));
  }
  // A CSV row pointing at a missing image: the error names the CSV line, no folder is made.
  const csv = `${dir}/bad.csv`;
  const lines = (await Deno.readTextFile(`${root}/csvs/original.csv`)).trim().split("\n");
  lines.splice(3, 0, "train,Real,/images/train/missing.png");
  await Deno.writeTextFile(csv, lines.join("\n") + "\n");
  await assert.rejects(
    train(config({ csv }), { output: `${dir}/run`, progress: "silent" }),
    /bad\.csv:4/,
  );
  assert.equal(await Deno.stat(`${dir}/run`).then(() => true, () => false), false);
});

Deno.test("run-folder errors name the option's key in the library and its flag in deno task train", async () => {
  const { checkTrainInputs } = await import("../lib/train.ts");
  const { flagName } = await import("../lib/config.ts");
  const dir = await tmp();
  const mine = `${dir}/mine`;
  await Deno.mkdir(mine);
  await Deno.writeTextFile(`${mine}/notes.txt`, "x");
  await Deno.mkdir(`${dir}/empty`);
  const cases: [string, ResumeMode, string, RegExp][] = [
    [mine, "auto", "output", /: .*mine is not empty and is not a run folder of the kit/],
    [mine, "fresh", "fresh", /: refusing to delete .*mine: it was not created by the kit/],
    [`${dir}/empty`, "must", "resume", /: .*empty has no checkpoint to resume from/],
  ];
  const message = (e: unknown) => (e as Error).message;
  for (const [output, resume, key, rest] of cases) {
    const lib = await checkTrainInputs(config(), { output, resume }).then(() => "", message);
    assert.match(lib, new RegExp(`^${key}${rest.source}`), "the library names the key");
    const named = await checkTrainInputs(config(), { output, resume, fieldName: flagName })
      .then(() => "", message);
    assert.match(named, new RegExp(`^--${key}${rest.source}`), "flagName names the flag");
    const flag = resume === "auto" ? [] : [resume === "must" ? "--resume" : "--fresh"];
    const cli = await new Deno.Command(Deno.execPath(), {
      cwd: PROJECT_ROOT,
      args: [
        ...["run", "-A", "tools/train.ts", "--check", "--network", "tinycnn", "--input-size", "16"],
        ...[
          "--csv",
          `${root}/csvs/original.csv`,
          "--dataset",
          root,
          "--heatmaps",
          `${root}/heatmaps`,
        ],
        ...["--output", output, ...flag],
      ],
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(cli.code, 1);
    assert.match(
      new TextDecoder().decode(cli.stderr),
      new RegExp(`(^|\\s)--${key}${rest.source}`),
      "the command line names the flag",
    );
  }
  assert.deepEqual([...Deno.readDirSync(mine)].map((e) => e.name), ["notes.txt"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a non-finite loss stops the run, naming the step and the batch's files", async () => {
  const out = `${await tmp()}/run`;
  await assert.rejects(
    train(config({ lr: 1e30, logEvery: 1 }), { output: out, progress: "silent" }),
    /non-finite loss at step \d+; stopping before any checkpoint of NaN weights\. The batch's files:\n {2}\/images\/train\/.*\.png \(.*original\.csv:\d+\)/,
  );
  const log = (await Deno.readTextFile(`${out}/log.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.equal(log[log.length - 1].type, "error");
  // A run that never finished an epoch holds nothing to resume: rerun with other options, it
  // starts over (its config is replaced, its old step lines dropped).
  const s = await train(config({ epochs: 1 }), { output: out, progress: "silent" });
  assert.equal(s.epochs_done, 1);
  assert.equal(JSON.parse(await Deno.readTextFile(`${out}/config.json`)).config.lr, 0.005);
  const after = (await Deno.readTextFile(`${out}/log.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.ok(!after.some((r) => r.type === "error"));
  const steps = after.filter((r) => r.type === "step").map((r) => r.step);
  assert.deepEqual(steps, [...new Set(steps)].sort((a, b) => a - b), "old step lines kept");
});

Deno.test("a run killed with SIGKILL mid-epoch resumes and ends with the same weights", async () => {
  const dir = await tmp();
  const args = (out: string) => [
    "run",
    "-A",
    "tools/train.ts",
    "--backend",
    "cpu",
    "--network",
    "tinycnn",
    "--input-size",
    "16",
    "--alpha",
    "0.5",
    "--csv",
    `${root}/csvs/original.csv`,
    "--dataset",
    root,
    "--heatmaps",
    `${root}/heatmaps`,
    "--epochs",
    "3",
    "--batch-size",
    "4",
    "--log-every",
    "1",
    "--output",
    out,
  ];
  const run = (out: string) =>
    new Deno.Command(Deno.execPath(), {
      cwd: PROJECT_ROOT,
      args: args(out),
      stdout: "null",
      stderr: "null",
    }).output();
  assert.equal((await run(`${dir}/straight`)).code, 0);

  // Start, wait until epoch 2 has begun (steps logged after the epoch-1 record), SIGKILL.
  const killed = `${dir}/killed`;
  const child = new Deno.Command(Deno.execPath(), {
    cwd: PROJECT_ROOT,
    args: args(killed),
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const log = await Deno.readTextFile(`${killed}/log.jsonl`).catch(() => "");
    const recs = log.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
    if (recs.some((r) => r.type === "step" && r.epoch === 2)) break;
  }
  child.kill("SIGKILL");
  await child.status;
  const partial = (await Deno.readTextFile(`${killed}/log.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.ok(partial.some((r) => r.type === "step" && r.epoch === 2), "killed inside epoch 2");
  assert.ok(!partial.some((r) => r.type === "epoch" && r.epoch === 3));

  assert.equal((await run(killed)).code, 0);
  const a = await readSafetensors(`${dir}/straight/checkpoints/last.safetensors`);
  const b = await readSafetensors(`${killed}/checkpoints/last.safetensors`);
  assert.deepEqual([...b.tensors.keys()], [...a.tensors.keys()]);
  for (const [k, t] of a.tensors) assert.deepEqual(b.tensors.get(k)!.data, t.data, k);
  const log = (await Deno.readTextFile(`${killed}/log.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.deepEqual(log.filter((r) => r.type === "epoch").map((r) => r.epoch), [1, 2, 3]);
  assert.equal(log.filter((r) => r.type === "resume").length, 1);
});

Deno.test("a map grid that does not match the network's CAM grid is a clear error", async () => {
  const { checkCamGrid } = await import("../lib/train.ts");
  const { tinycnn } = await import("../lib/backbones/small_cnn.ts");
  const model = tinycnn.build({ seed: 0, inputSize: 16 });
  checkCamGrid(model, config(), 4);
  assert.throws(
    () => checkCamGrid(model, config(), 7),
    /Error: network tinycnn at inputSize 16: the CAM tap "paper" is 4x4 but the map grid is 7x7/,
  );
  const { flagName } = await import("../lib/config.ts");
  assert.throws(
    () => checkCamGrid(model, config(), 7, flagName),
    /Error: --network tinycnn at --input-size 16: the CAM tap/,
    "the CLI's names",
  );
  model.store.dispose();
});

Deno.test("the progress bar ends at 100 % of the images --max-steps trains, with loss and accuracy", async () => {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    await train(config({ epochs: 1, maxSteps: 2, batchSize: 4 }), {
      output: `${await tmp()}/run`,
      progress: "plain",
    });
  } finally {
    console.error = original;
  }
  const last = lines.filter((l) => l.startsWith("epoch 1/1")).at(-1) ?? "";
  assert.match(last, /100% 8\/8 /);
  assert.match(last, /loss \d+\.\d{4} acc \d\.\d{3}$/);
});

Deno.test("shuffleMaps trains on other images' maps: same first batch, another CAM loss", async () => {
  const camLoss = async (shuffleMaps: boolean) => {
    const out = `${await tmp()}/run`;
    await train(config({ shuffleMaps, epochs: 1, maxSteps: 1, logEvery: 1 }), {
      output: out,
      progress: "silent",
    });
    const step = (await Deno.readTextFile(`${out}/log.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l)).find((r) => r.type === "step");
    const cfg = JSON.parse(await Deno.readTextFile(`${out}/config.json`)).config;
    assert.equal(cfg.shuffleMaps, shuffleMaps);
    return step as { ce: number; cam: number };
  };
  const own = await camLoss(false);
  const other = await camLoss(true);
  assert.equal(other.ce, own.ce, "the same images and weights");
  assert.notEqual(other.cam, own.cam, "the maps are not the images' own");
});

Deno.test("initWeights: the paper's checkpoint dict (.pth by torch) starts a run as its state_dict's safetensors does", async () => {
  const fix = `${PROJECT_ROOT}tests/fixtures/pth`;
  const ref = (await readSafetensors(`${fix}/tinycnn_sd.safetensors`)).tensors;
  const weightsAfter = async (initWeights: string) => {
    const out = `${await tmp()}/run`;
    // lr 0: the weights stay the file's; the BN running statistics still move.
    const cfg = config({ initWeights, epochs: 1, maxSteps: 1, lr: 0, momentum: 0, weightDecay: 0 });
    await train(cfg, { output: out, progress: "silent" });
    return (await readSafetensors(`${out}/checkpoints/last.safetensors`)).tensors;
  };
  const pth = await weightsAfter(`${fix}/tinycnn_ckpt.pth`);
  const st = await weightsAfter(`${fix}/tinycnn_sd.safetensors`);
  for (const [name, t] of ref) {
    assert.deepEqual(pth.get(name)!.data, st.get(name)!.data, name);
    if (!/running_|num_batches/.test(name)) assert.deepEqual(pth.get(name)!.data, t.data, name);
  }
});
