// Bad input against the command-line tools (train, score, reproduce), each run as a user would:
// every case must end with a clear message naming the option, file and line, exit non-zero, print
// no stack trace, and leave what the user owns (and the data) untouched.
import assert from "node:assert/strict";
import { tinycnn } from "../lib/backbones/small_cnn.ts";
import { initBackend } from "../lib/backend.ts";
import { encodeSafetensors } from "../lib/safetensors.ts";
import { saveWeights } from "../lib/weights.ts";
import { tinyDataRoot } from "./_support/tiny_data.ts";

// Spawned tools resolve against the project root, whatever the test process's cwd (another
// test module in this process may change it).
const PROJECT_ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);

const tiny = await tinyDataRoot();
await initBackend("cpu");

interface Result {
  code: number;
  out: string;
  err: string;
}

async function deno(args: string[]): Promise<Result> {
  const o = await new Deno.Command(Deno.execPath(), {
    cwd: PROJECT_ROOT,
    args: ["run", "-A", ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: o.code, out: d.decode(o.stdout), err: d.decode(o.stderr) };
}

/** The run failed with a message matching `re` and without a stack trace. */
function refused(r: Result, re: RegExp): void {
  assert.notEqual(r.code, 0, `expected a failure; stderr:\n${r.err}`);
  assert.match(r.err, re);
  assert.doesNotMatch(r.err, /^\s+at /m, `stack trace printed:\n${r.err}`);
}

async function copyDir(src: string, dst: string): Promise<void> {
  await Deno.mkdir(dst, { recursive: true });
  for await (const e of Deno.readDir(src)) {
    if (e.isDirectory) await copyDir(`${src}/${e.name}`, `${dst}/${e.name}`);
    else await Deno.copyFile(`${src}/${e.name}`, `${dst}/${e.name}`);
  }
}

/** Every file below `dir` with its size (to show nothing was deleted or rewritten). */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...(await listing(p)));
    else out.push(`${p}:${(await Deno.stat(p)).size}`);
  }
  return out.sort();
}

const exists = (p: string) => Deno.lstat(p).then(() => true, () => false);

/** A private copy of the tiny data (the cases below damage it). */
async function dataCopy(): Promise<{ dir: string; root: string }> {
  const dir = await Deno.makeTempDir({ prefix: "cyborg-faults-" });
  await copyDir(tiny, `${dir}/procfaces`);
  return { dir, root: `${dir}/procfaces` };
}

function trainArgs(root: string, out: string, ...extra: string[]): string[] {
  return [
    "tools/train.ts",
    ...["--backend", "cpu", "--network", "tinycnn", "--input-size", "16"],
    ...["--csv", `${root}/csvs/original.csv`, "--dataset", root, "--heatmaps", `${root}/heatmaps`],
    ...["--epochs", "1", "--batch-size", "8", "--output", out],
    ...extra,
  ];
}

/** Lines of the train split of the CSV (to build bad CSVs from). */
async function csvLines(root: string): Promise<string[]> {
  return (await Deno.readTextFile(`${root}/csvs/original.csv`)).trim().split("\n");
}

Deno.test("train --fresh deletes nothing the kit did not create, and never the data", async () => {
  const { dir, root } = await dataCopy();
  // A user's folder.
  await Deno.mkdir(`${dir}/v`);
  await Deno.writeTextFile(`${dir}/v/thesis.txt`, "x");
  refused(
    await deno(trainArgs(root, `${dir}/v`, "--fresh")),
    /--fresh: refusing to delete .*\/v: it was not created by the kit/,
  );
  assert.equal(await Deno.readTextFile(`${dir}/v/thesis.txt`), "x");
  // Without --fresh, the kit does not write into it either.
  refused(
    await deno(trainArgs(root, `${dir}/v`)),
    /--output: .*\/v is not empty and is not a run folder of the kit/,
  );
  assert.deepEqual((await listing(`${dir}/v`)).length, 1);
  // The data root as the output.
  const before = await listing(root);
  refused(await deno(trainArgs(root, root, "--fresh")), /--fresh: refusing to delete/);
  refused(await deno(trainArgs(root, root)), /is not empty and is not a run folder/);
  assert.deepEqual(await listing(root), before);
  // A folder the kit made, but holding the data the job reads.
  await Deno.mkdir(`${dir}/kitrun`);
  await Deno.writeTextFile(`${dir}/kitrun/.cyborg-kit`, "{}");
  await copyDir(root, `${dir}/kitrun/data`);
  const inside = `${dir}/kitrun/data`;
  refused(
    await deno(trainArgs(inside, `${dir}/kitrun`, "--fresh")),
    /--fresh: refusing to delete .*kitrun: it holds the data this job reads/,
  );
  assert.ok(await exists(`${inside}/csvs/original.csv`));
  // A run folder the kit created is emptied and retrained.
  const run = `${dir}/run`;
  assert.equal((await deno(trainArgs(root, run))).code, 0);
  await Deno.writeTextFile(`${run}/stray.txt`, "made by the previous run");
  const again = await deno(trainArgs(root, run, "--fresh", "--seed", "3"));
  assert.equal(again.code, 0, again.err);
  assert.equal(await exists(`${run}/stray.txt`), false);
  assert.equal(JSON.parse(await Deno.readTextFile(`${run}/config.json`)).config.seed, 3);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train: CSV paths outside the data root (.., /etc/passwd, a symlink) are refused by line", async () => {
  const { dir, root } = await dataCopy();
  await Deno.copyFile(
    `${root}/heatmaps/${(await csvLines(root))[0].split("/").pop()}`,
    `${dir}/OUTSIDE.png`,
  );
  await Deno.symlink(`${dir}/OUTSIDE.png`, `${root}/images/link.png`);
  const lines = await csvLines(root);
  lines.splice(
    2,
    0,
    "train,Real,/../OUTSIDE.png",
    "train,Real,/../../../../../../etc/passwd",
    "train,Real,/images/link.png",
  );
  const csv = `${dir}/escape.csv`;
  await Deno.writeTextFile(csv, lines.join("\n") + "\n");
  const r = await deno([...trainArgs(root, `${dir}/run`), "--csv", csv]);
  refused(r, /3 image path\(s\) outside the data root/);
  assert.match(r.err, /escape\.csv:3: image path "\/\.\.\/OUTSIDE\.png" leads outside/);
  assert.match(r.err, /escape\.csv:4: image path "\/\.\.\/.*etc\/passwd" leads outside/);
  assert.match(r.err, /escape\.csv:5: image path "\/images\/link\.png" leads outside/);
  assert.equal(await exists(`${dir}/run`), false);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train: every damaged image is listed at once by CSV line, before any folder exists; --check", async () => {
  const { dir, root } = await dataCopy();
  const lines = await csvLines(root);
  const path = (i: number) => `${root}${lines[i].split(",")[2]}`;
  const trainRows = lines.map((l, i) => [l, i] as const).filter(([l]) => l.startsWith("train"));
  const testRows = lines.map((l, i) => [l, i] as const).filter(([l]) => l.startsWith("test"));
  const [a, b, c] = [trainRows[0][1], trainRows[5][1], testRows[0][1]];
  const png = await Deno.readFile(path(a));
  await Deno.writeFile(path(a), png.subarray(0, png.length - 40)); // missing its tail
  const png2 = await Deno.readFile(path(b));
  await Deno.writeFile(path(b), png2.subarray(0, png2.length - 12)); // no IEND
  await Deno.writeTextFile(path(c), "not an image");
  const out = `${dir}/run`;
  for (const extra of [[], ["--check"]]) {
    const r = await deno(trainArgs(root, out, ...extra));
    refused(r, /3 problems with the inputs/);
    assert.match(
      r.err,
      new RegExp(`original\\.csv:${a + 1}: image: cannot decode .*truncated PNG`),
    );
    assert.match(
      r.err,
      new RegExp(`original\\.csv:${b + 1}: image: cannot decode .*PNG ends before IEND`),
    );
    assert.match(r.err, new RegExp(`original\\.csv:${c + 1}: image: cannot decode`));
    assert.doesNotMatch(r.err, /failOn/);
    assert.equal(await exists(out), false, "no run folder for a job that cannot run");
  }
  // Repaired: --check passes without writing; the run then starts with other options freely.
  await copyDir(tiny, root);
  const ok = await deno(trainArgs(root, out, "--check"));
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /inputs ok: \d+ training images \(\d+ with a map\), \d+ validation images/);
  assert.equal(await exists(out), false);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train: bad option values, weights and backends fail first with a clear message", async () => {
  const { dir, root } = await dataCopy();
  const out = `${dir}/run`;
  refused(await deno(trainArgs(root, out, "--seed", "1.5")), /--seed: "1\.5" is not an integer/);
  refused(
    await deno(trainArgs(root, out, "--epochs", "2.5")),
    /--epochs: "2\.5" is not an integer/,
  );
  refused(
    await deno(trainArgs(root, out, "--save-weights", `${dir}/nope/w.safetensors`)),
    /--save-weights: cannot write .*nope\/w\.safetensors: .*nope does not exist/,
  );
  refused(
    await deno(trainArgs(root, out, "--save-weights", dir)),
    /--save-weights: .* is a folder/,
  );
  for (
    const [name, bytes, re] of [
      ["null.st", header("null"), /null\.st: not a safetensors header/],
      ["list.st", header("[1,2,3]"), /list\.st: not a safetensors header/],
      ["cut.st", cutWeights(), /cut\.st: truncated safetensors file/],
    ] as const
  ) {
    await Deno.writeFile(`${dir}/${name}`, bytes);
    refused(await deno(trainArgs(root, out, "--init-weights", `${dir}/${name}`)), re);
  }
  assert.equal(await exists(out), false);
  // The optional native backend: refused, saying how to add it; deno.lock is not touched.
  const r = await deno(trainArgs(root, out, "--backend", "tensorflow"));
  refused(r, /backend tensorflow: .*(not installed|does not load)/);
  const git = await new Deno.Command("git", {
    args: ["status", "--porcelain", "deno.lock"],
    stdout: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(git.stdout), "", "deno.lock changed");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train: output, --save-weights and data problems are listed together; --check reads a run's files", async () => {
  const { dir, root } = await dataCopy();
  const lines = await csvLines(root);
  await Deno.writeTextFile(`${root}${lines[0].split(",")[2]}`, "not an image");
  await Deno.mkdir(`${dir}/v`);
  await Deno.writeTextFile(`${dir}/v/thesis.txt`, "x");
  for (const extra of [[], ["--check"]]) {
    const r = await deno(
      trainArgs(root, `${dir}/v`, "--save-weights", `${dir}/nope/w.safetensors`, ...extra),
    );
    refused(r, /3 problems with the inputs/);
    assert.match(r.err, /--output: .*\/v is not empty and is not a run folder of the kit/);
    assert.match(r.err, /--save-weights: cannot write .*nope\/w\.safetensors/);
    assert.match(r.err, /original\.csv:1: image: cannot decode/);
  }
  assert.deepEqual(await listing(`${dir}/v`), [`${dir}/v/thesis.txt:1`]);
  // A finished run whose checkpoint or config.json is damaged: --check names the file.
  await copyDir(tiny, root);
  const run = `${dir}/run`;
  const done = await deno(trainArgs(root, run));
  assert.equal(done.code, 0, done.err);
  const last = `${run}/checkpoints/last.safetensors`;
  const bytes = await Deno.readFile(last);
  await Deno.writeFile(last, bytes.subarray(0, bytes.length - 20));
  refused(await deno(trainArgs(root, run, "--check")), /last\.safetensors: truncated safetensors/);
  await Deno.writeFile(last, bytes);
  await Deno.writeTextFile(`${run}/config.json`, "[]");
  refused(
    await deno(trainArgs(root, run, "--check")),
    /run\/config\.json: not a run config \(expected an object with a "config" object\)/,
  );
  await Deno.remove(dir, { recursive: true });
});

function header(json: string): Uint8Array {
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

function cutWeights(): Uint8Array {
  const all = encodeSafetensors(new Map([["w", { shape: [8], data: new Float32Array(8) }]]));
  return all.subarray(0, all.length - 5);
}

Deno.test("train: a second writer of the same run folder is refused, naming the holder", async () => {
  const { dir, root } = await dataCopy();
  const out = `${dir}/run`;
  const args = trainArgs(root, out, "--epochs", "3", "--batch-size", "4", "--log-every", "1");
  const first = new Deno.Command(Deno.execPath(), {
    cwd: PROJECT_ROOT,
    args: ["run", "-A", ...args],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  for (let i = 0; i < 600 && !(await exists(`${out}/.lock`)); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const holder = JSON.parse(await Deno.readTextFile(`${out}/.lock`));
  const second = await deno(args);
  const firstDone = await first.output();
  assert.equal(firstDone.code, 0, new TextDecoder().decode(firstDone.stderr));
  refused(
    second,
    new RegExp(
      `--output: the run folder .*run is in use by another process \\(pid ${holder.pid} on ` +
        `${holder.host}, since ${holder.since.replace(/\./g, "\\.")}\\)`,
    ),
  );
  const log = (await Deno.readTextFile(`${out}/log.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  const steps = log.filter((r) => r.type === "step").map((r) => r.step);
  assert.equal(new Set(steps).size, steps.length, "a log record written twice");
  assert.deepEqual(log.filter((r) => r.type === "epoch").map((r) => r.epoch), [1, 2, 3]);
  assert.equal(await exists(`${out}/.lock`), false, "the lock is removed at exit");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("score: escaping paths, an unwritable --out and damaged weights fail before scoring", async () => {
  const { dir, root } = await dataCopy();
  const model = tinycnn.build({ seed: 1, inputSize: 16 });
  await saveWeights(model, `${dir}/w.safetensors`);
  model.store.dispose();
  const args = (csv: string, out: string, weights = `${dir}/w.safetensors`) => [
    "tools/score.ts",
    ...["--backend", "cpu", "--network", "tinycnn", "--input-size", "16", "--weights", weights],
    ...["--csv", csv, "--images", root, "--out", out, "--no-cache"],
  ];
  const csv = `${root}/csvs/original.csv`;
  const escape = `${dir}/escape.csv`;
  await Deno.writeTextFile(escape, "test,Real,/../../../../../../etc/passwd\n");
  refused(
    await deno(args(escape, `${dir}/s.csv`)),
    /escape\.csv:1: image path "\/\.\.\/.*etc\/passwd" leads outside/,
  );
  await Deno.mkdir(`${dir}/folder`);
  refused(await deno(args(csv, `${dir}/folder`)), /--out: .*folder is a folder/);
  assert.deepEqual(await listing(`${dir}/folder`), [], "no temporary file left");
  refused(await deno(args(csv, `${dir}/none/s.csv`)), /--out: cannot write .*none\/s\.csv/);
  await Deno.writeFile(`${dir}/list.st`, header("[1,2,3]"));
  refused(
    await deno(args(csv, `${dir}/s.csv`, `${dir}/list.st`)),
    /list\.st: not a safetensors header/,
  );
  await Deno.writeFile(`${dir}/cut.st`, cutWeights());
  refused(await deno(args(csv, `${dir}/s.csv`, `${dir}/cut.st`)), /cut\.st: truncated/);
  refused(
    await deno([...args(csv, `${dir}/s.csv`), "--batch-size", "1.5"]),
    /--batch-size: "1\.5" is not an integer/,
  );
  assert.equal(await exists(`${dir}/s.csv`), false);
  const ok = await deno(args(csv, `${dir}/s.csv`));
  assert.equal(ok.code, 0, ok.err);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("reproduce: test sets, eval folders and a held experiment are checked before training", async () => {
  const { dir, root } = await dataCopy();
  const out = `${dir}/exp`;
  const args = (...extra: string[]) => [
    "tools/reproduce.ts",
    ...["--preset", "smoke", "--data", root, "--out", out, "--strategies", "baseline"],
    ...["--jobs", "1", "--backend", "cpu", ...extra],
  ];
  // A test set row whose image is missing, and an eval path that is a file.
  const sets = [...Deno.readDirSync(`${root}/csvs/test_sets`)].map((e) => e.name).sort();
  const setCsv = `${root}/csvs/test_sets/${sets[0]}`;
  const rows = (await Deno.readTextFile(setCsv)).trim().split("\n");
  rows.push("test,Real,/images/missing.png");
  await Deno.writeTextFile(setCsv, rows.join("\n") + "\n");
  await Deno.mkdir(`${out}/data/baseline/s0`, { recursive: true });
  await Deno.writeTextFile(`${out}/.cyborg-kit`, '{"kind": "experiment"}');
  await Deno.writeTextFile(`${out}/data/baseline/s0/.cyborg-kit`, '{"kind": "run"}');
  await Deno.writeTextFile(`${out}/data/baseline/s0/eval`, "");
  for (const extra of [[], ["--check"]]) {
    const r = await deno(args(...extra));
    refused(r, /2 problem\(s\) with the experiment's inputs/);
    assert.match(r.err, new RegExp(`${sets[0]}:${rows.length}: image not found`));
    assert.match(r.err, /data\/baseline\/s0\/eval: not a folder/);
    assert.equal(await exists(`${out}/data/baseline/s0/config.json`), false, "nothing trained");
  }
  // Another live process holds the experiment folder.
  await Deno.remove(`${out}/data/baseline/s0/eval`);
  const since = new Date().toISOString();
  await Deno.writeTextFile(
    `${out}/.lock`,
    JSON.stringify({ pid: Deno.pid, host: Deno.hostname(), since }),
  );
  refused(
    await deno(args()),
    new RegExp(
      `--out: the experiment folder .*exp is in use by another process \\(pid ${Deno.pid} on `,
    ),
  );
  assert.equal(await exists(`${out}/data/baseline/s0/config.json`), false);
  // A user's folder as the experiment folder: refused (the job writes and moves folders there).
  await Deno.mkdir(`${dir}/mine/data`, { recursive: true });
  await Deno.writeTextFile(`${dir}/mine/data/notes.txt`, "x");
  for (const extra of [["--fresh"], ["--check"]]) {
    refused(
      await deno([...args(...extra).map((a) => a === out ? `${dir}/mine` : a)]),
      /--out: .*mine is not empty and is not an experiment folder of the kit/,
    );
  }
  assert.deepEqual((await listing(`${dir}/mine`)).map((p) => p.slice(dir.length)), [
    "/mine/data/notes.txt:1",
  ]);
  // --collect on a folder that does not exist: nothing to collect, and nothing created.
  refused(
    await deno([...args("--collect").map((a) => a === out ? `${dir}/none` : a)]),
    /--collect: .*none is not an experiment folder \(nothing to collect\)/,
  );
  assert.equal(await exists(`${dir}/none`), false);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("data: a user's folder at the dataset path is refused, not rewritten", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cyborg-faults-" });
  await Deno.mkdir(`${dir}/procfaces/images`, { recursive: true });
  await Deno.writeTextFile(`${dir}/procfaces/thesis.txt`, "x");
  await Deno.writeTextFile(`${dir}/procfaces/images/mine.png`, "mine");
  const r = await deno([
    "tools/make_data.ts",
    ...["--out", dir, "--size", "16", "--scale", "0.02", "--variant", "shortcut"],
  ]);
  refused(r, /--out: refusing to write the dataset into .*procfaces: it holds thesis\.txt/);
  assert.deepEqual((await listing(`${dir}/procfaces`)).map((p) => p.slice(dir.length)), [
    "/procfaces/images/mine.png:4",
    "/procfaces/thesis.txt:1",
  ]);
  await Deno.writeTextFile(`${dir}/procfaces-control`, "a file");
  refused(
    await deno(["tools/make_data.ts", "--out", dir, "--size", "16", "--scale", "0.02"]),
    /make_data: --out: refusing to write|make_data: --out: .* is a file/,
  );
  await Deno.remove(dir, { recursive: true });
});
