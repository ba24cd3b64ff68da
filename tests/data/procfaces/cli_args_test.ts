import assert from "node:assert/strict";
import { parseMakeDataArgs } from "../../../lib/data/procfaces/cli_args.ts";

Deno.test("cli args: defaults and every option", () => {
  assert.deepEqual(parseMakeDataArgs([]), {
    seed: 1,
    size: 64,
    out: "data",
    variant: "both",
    scale: 1,
  });
  assert.deepEqual(
    parseMakeDataArgs([
      "--seed",
      "7",
      "--size=224",
      "--out",
      "/tmp/x",
      "--variant",
      "shortcut",
      "--scale",
      "0.5",
      "--workers",
      "0",
    ]),
    { seed: 7, size: 224, out: "/tmp/x", variant: "shortcut", scale: 0.5, workers: 0 },
  );
  assert.equal(parseMakeDataArgs(["--no-shortcut"]).variant, "control");
  assert.equal(parseMakeDataArgs(["--force"]).force, true);
});

Deno.test("cli args: errors name the option", () => {
  assert.throws(() => parseMakeDataArgs(["--seed", "x"]), /--seed/);
  assert.throws(() => parseMakeDataArgs(["--size", "4"]), /--size/);
  assert.throws(() => parseMakeDataArgs(["--variant", "nope"]), /--variant/);
  assert.throws(() => parseMakeDataArgs(["--scale", "0"]), /--scale/);
  assert.throws(() => parseMakeDataArgs(["--no-shortcut", "--variant", "both"]), /--no-shortcut/);
  assert.throws(() => parseMakeDataArgs(["--bogus"]), /unknown option "--bogus"/);
});
