import assert from "node:assert/strict";

const TRAIN = new URL("../../tools/train.ts", import.meta.url).pathname;

async function train(args: string[], cwd?: string) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRAIN, ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test("deno task train --help documents the paper's options and the kit's", async () => {
  const r = await train(["--help"]);
  assert.equal(r.code, 0);
  for (
    const flag of [
      "--batch-size",
      "--epochs",
      "--csv",
      "--dataset",
      "--heatmaps",
      "--alpha",
      "--network",
      "--output",
      "--seed",
      "--backend",
      "--max-steps",
      "--init-weights",
      "--save-weights",
      "--resume",
      "--cam-class <pred|true|diff>",
      "--transform-input <true|false>",
    ]
  ) assert.ok(r.out.includes(flag), flag);
});

Deno.test("train CLI errors name the option; missing embedded data says how to make it", async () => {
  const empty = await Deno.makeTempDir();
  const a = await train(["--network", "minicnn"], empty);
  assert.equal(a.code, 1);
  assert.match(
    a.err,
    /--csv: data\/procfaces\/csvs\/original\.csv does not exist; generate the embedded data first with `deno task data`/,
  );
  const b = await train(["--batch-size", "many"], empty);
  assert.match(b.err, /--batch-size: "many" is not a number/);
  const c = await train(["--resume", "--fresh"], empty);
  assert.match(c.err, /--resume and --fresh exclude each other/);
  assert.deepEqual([...Deno.readDirSync(empty)], [], "nothing written");
  await Deno.remove(empty, { recursive: true });
});

Deno.test("--transform-input true|false sets the config field; absent it is null (weights, else on)", async () => {
  const { configFromArgs } = await import("../../tools/train.ts");
  assert.equal(configFromArgs([]).cfg.transformInput, null);
  assert.equal(configFromArgs(["--transform-input", "false"]).cfg.transformInput, false);
  assert.equal(configFromArgs(["--transform-input=true"]).cfg.transformInput, true);
  assert.throws(
    () => configFromArgs(["--transform-input", "yes"]),
    /--transform-input: "yes" is not one of true, false/,
  );
});

Deno.test("the train options hold one option per config field, with the config's defaults", async () => {
  const { TRAIN_OPTIONS } = await import("../../tools/train.ts");
  const { CONFIG_FIELDS, CONFIG_KEYS, DEFAULT_CONFIG } = await import("../../lib/config.ts");
  const byName = new Map(TRAIN_OPTIONS.map((o) => [o.name, o]));
  assert.equal(byName.size, TRAIN_OPTIONS.length, "option names are distinct");
  for (const key of CONFIG_KEYS) {
    const o = byName.get(CONFIG_FIELDS[key].flag);
    assert.ok(o, key);
    const d = DEFAULT_CONFIG[key];
    if (!["csv", "dataset", "heatmaps"].includes(key) && d !== null && d !== false) {
      assert.equal(o.default, d, key);
    }
  }
});

Deno.test("config problems reach the train CLI user under the option's flag", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/a.csv`, "");
  const r = await train(
    ["--check", "--epochs", "0", "--shuffle-maps", "--alpha", "1", "--csv", `${dir}/a.csv`],
    dir,
  );
  assert.equal(r.code, 1);
  assert.match(r.err, /--shuffle-maps: needs --alpha < 1 \(with alpha 1 no map is used\)/);
  assert.match(r.err, /--epochs: must be a positive integer, got 0/);
  assert.match(r.err, /--dataset: data\/procfaces does not exist/);
  await Deno.remove(dir, { recursive: true });
});
