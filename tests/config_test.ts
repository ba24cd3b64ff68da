import assert from "node:assert/strict";
import {
  CONFIG_FIELDS,
  CONFIG_KEYS,
  configDifferences,
  configOption,
  configValue,
  DEFAULT_CONFIG,
  flagName,
  type TrainConfig,
  validateConfig,
} from "../lib/config.ts";
import { getPreset } from "../lib/presets.ts";

Deno.test("the default config is the paper's recipe", () => {
  const d = DEFAULT_CONFIG;
  assert.deepEqual(
    [d.lr, d.momentum, d.weightDecay, d.lrStepSize, d.lrGamma, d.epochs, d.batchSize, d.camClass],
    [0.005, 0.9, 1e-6, 12, 0.1, 50, 20, "pred"],
  );
});

Deno.test("validation names every bad field by its key", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/a.csv`, "");
  const errors = validateConfig({
    ...DEFAULT_CONFIG,
    network: "vgg99",
    alpha: 1.5,
    epochs: 0,
    csv: `${dir}/a.csv`,
    dataset: `${dir}/missing`,
    heatmaps: null,
  });
  const text = errors.join("\n");
  for (
    const s of [
      "alpha: alpha must be in [0, 1], got 1.5",
      'network: unknown network "vgg99"',
      "epochs: must be a positive integer, got 0",
      `dataset: ${dir}/missing does not exist`,
    ]
  ) assert.ok(text.includes(s), `missing: ${s}\n${text}`);
  const e2 = validateConfig({
    ...DEFAULT_CONFIG,
    network: "tinycnn",
    alpha: 0.5,
    csv: `${dir}/a.csv`,
    dataset: dir,
    heatmaps: null,
  });
  assert.deepEqual(e2, ["heatmaps: required when alpha < 1 (got alpha 0.5)"]);
  const ok = { ...DEFAULT_CONFIG, network: "tinycnn", alpha: 1, csv: `${dir}/a.csv`, dataset: dir };
  assert.deepEqual(validateConfig({ ...ok, camClass: "diff" }), []);
  assert.deepEqual(
    validateConfig({ ...ok, camClass: "both" as TrainConfig["camClass"] }),
    ["camClass: must be pred, true or diff, got both"],
  );
  assert.deepEqual(validateConfig({ ...ok, shuffleMaps: true }), [
    "shuffleMaps: needs alpha < 1 (with alpha 1 no map is used)",
  ]);
  const e3 = validateConfig({
    ...DEFAULT_CONFIG,
    network: "tinycnn",
    alpha: 1,
    csv: `${dir}/a.csv`,
    dataset: dir,
    transformInput: false,
  });
  assert.deepEqual(e3, ["transformInput: tinycnn has no transform_input (InceptionV3 only)"]);
  const e4 = validateConfig({
    ...DEFAULT_CONFIG,
    network: "inception_v3",
    alpha: 1,
    csv: `${dir}/a.csv`,
    dataset: dir,
    transformInput: false,
  });
  assert.deepEqual(e4, []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("with flagName, validation names the command-line flags, also inside a message", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/a.csv`, "");
  const cfg = { ...DEFAULT_CONFIG, network: "tinycnn", csv: `${dir}/a.csv`, dataset: dir };
  assert.deepEqual(validateConfig({ ...cfg, heatmaps: null, batchSize: 0 }, flagName), [
    "--heatmaps: required when --alpha < 1 (got alpha 0.5)",
    "--batch-size: must be a positive integer, got 0",
  ]);
  assert.deepEqual(validateConfig({ ...cfg, alpha: 1, shuffleMaps: true }, flagName), [
    "--shuffle-maps: needs --alpha < 1 (with alpha 1 no map is used)",
  ]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("each config key has one field: a distinct flag, its default, its parsed value", () => {
  assert.deepEqual(Object.keys(CONFIG_FIELDS), CONFIG_KEYS);
  const flags = CONFIG_KEYS.map((k) => CONFIG_FIELDS[k].flag);
  assert.equal(new Set(flags).size, flags.length);
  assert.equal(flagName("batchSize"), "--batch-size");
  assert.deepEqual(configOption("epochs"), {
    name: "epochs",
    type: "integer",
    help: "epochs",
    default: 50,
  });
  assert.equal(configOption("maxSteps").default, undefined);
  assert.deepEqual(configOption("transformInput").choices, ["true", "false"]);
  assert.equal(configValue("transformInput", undefined), null);
  assert.equal(configValue("transformInput", "false"), false);
  assert.equal(configValue("shuffleMaps", undefined), false);
  assert.equal(configValue("maxSteps", undefined), null);
  assert.equal(configValue("epochs", 3), 3);
});

Deno.test("an unknown preset is named by its source (default: the key)", () => {
  assert.throws(() => getPreset("huge"), /^Error: preset: unknown preset "huge"/);
  assert.throws(() => getPreset("huge", "--preset"), /^Error: --preset: unknown preset "huge"/);
});

Deno.test("config differences list each changed key", () => {
  const d = configDifferences(DEFAULT_CONFIG, { ...DEFAULT_CONFIG, alpha: 1, seed: 3 });
  assert.deepEqual(d, ["alpha: 0.5 → 1", "seed: 0 → 3"]);
  // A config.json from before a key existed: the missing key counts as its default.
  const { transformInput: _, ...old } = DEFAULT_CONFIG;
  assert.deepEqual(configDifferences(old as typeof DEFAULT_CONFIG, DEFAULT_CONFIG), []);
  assert.deepEqual(
    configDifferences(old as typeof DEFAULT_CONFIG, { ...DEFAULT_CONFIG, transformInput: false }),
    ["transformInput: null → false"],
  );
});
