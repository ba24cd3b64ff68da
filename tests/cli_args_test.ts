import assert from "node:assert/strict";
import { HelpRequested, type OptionSpec, parseArgs } from "../lib/cli_args.ts";

const specs: OptionSpec[] = [
  { name: "batch-size", type: "number", help: "batch", default: 20 },
  { name: "cam-class", type: "string", help: "class", choices: ["pred", "true"], default: "pred" },
  { name: "fresh", type: "boolean", help: "fresh" },
];

Deno.test("parses numbers, choices, booleans, --k=v, and keeps defaults", () => {
  assert.deepEqual(parseArgs(["--batch-size", "8", "--cam-class=true", "--fresh"], specs, "u"), {
    "batch-size": 8,
    "cam-class": "true",
    fresh: true,
  });
  assert.deepEqual(parseArgs([], specs, "u"), {
    "batch-size": 20,
    "cam-class": "pred",
    fresh: undefined,
  });
});

Deno.test("bad options are named", () => {
  assert.throws(
    () => parseArgs(["--batch-size", "x"], specs, "u"),
    /--batch-size: "x" is not a number/,
  );
  assert.throws(
    () => parseArgs(["--cam-class", "max"], specs, "u"),
    /--cam-class: "max" is not one of pred, true/,
  );
  assert.throws(() => parseArgs(["--nope"], specs, "u"), /unknown option --nope/);
  assert.throws(() => parseArgs(["--batch-size"], specs, "u"), /--batch-size needs a value/);
  assert.throws(() => parseArgs(["stray"], specs, "u"), /unexpected argument "stray"/);
});

Deno.test("--help lists every option with its default", () => {
  try {
    parseArgs(["--help"], specs, "usage line");
    assert.fail("no help");
  } catch (e) {
    assert.ok(e instanceof HelpRequested);
    for (
      const s of [
        "usage line",
        "--batch-size",
        "(default: 20)",
        "--cam-class <pred|true>",
        "--fresh",
      ]
    ) {
      assert.ok(e.message.includes(s), s);
    }
  }
});

Deno.test("runCli: --help prints to stdout and exits 0; an error prints 'label: message' and exits 1", async () => {
  const lib = new URL("../lib/cli_args.ts", import.meta.url).href;
  const run = async (code: string) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", `import { HelpRequested, runCli } from "${lib}"; ${code}`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
  const help = await run(`await runCli(() => { throw new HelpRequested("usage: x"); });`);
  assert.equal(help.code, 0);
  assert.equal(help.stdout.trim(), "usage: x");
  const bad = await run(`await runCli(async () => { throw new Error("--x: bad"); }, "tool");`);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr.trim(), "tool: --x: bad");
  // An error escaping main (a rejected promise nobody awaits): the message, no stack trace.
  const stray = await run(
    `await runCli(async () => { Promise.reject(new Error("stray")); await new Promise((r) => ` +
      `setTimeout(r, 500)); }, "tool");`,
  );
  assert.equal(stray.code, 1);
  assert.equal(stray.stderr.trim(), "tool: stray");
  const thrown = await run(`await runCli(async () => { throw "a string"; }, "tool");`);
  assert.equal(thrown.stderr.trim(), "tool: a string");
  const ok = await run(`await runCli(async () => { console.log("done"); }); console.log("after");`);
  assert.equal(ok.code, 0);
  assert.equal(ok.stdout.trim(), "done\nafter");
});

Deno.test("integer options refuse a fraction; their values are kept exactly", () => {
  const specs: OptionSpec[] = [{ name: "seed", type: "integer", help: "seed", default: 0 }];
  assert.equal(parseArgs(["--seed", "7"], specs, "u").seed, 7);
  assert.equal(parseArgs(["--seed=-3"], specs, "u").seed, -3);
  assert.throws(() => parseArgs(["--seed", "1.5"], specs, "u"), /--seed: "1\.5" is not an integer/);
  assert.throws(
    () => parseArgs(["--seed", "1e300"], specs, "u"),
    /--seed: "1e300" is not an integer/,
  );
  assert.throws(() => parseArgs(["--seed", "x"], specs, "u"), /--seed: "x" is not a number/);
  // Decimal digits only: no exponent, hexadecimal or binary form of an integer.
  for (const raw of ["1e0", "2.0"]) {
    assert.throws(() => parseArgs(["--seed", raw], specs, "u"), /is not an integer/, raw);
  }
  for (const raw of ["0x10", "0b1", "Infinity", " 3", "1_000"]) {
    assert.throws(() => parseArgs(["--seed", raw], specs, "u"), /is not a number/, raw);
  }
});

Deno.test("a repeated option: the last value wins, unless repeatable (collected in order)", () => {
  assert.equal(
    parseArgs(["--batch-size", "4", "--batch-size", "8"], specs, "usage")["batch-size"],
    8,
  );
  const rep: OptionSpec[] = [{ name: "csv", type: "string", help: "split", repeatable: true }];
  assert.deepEqual(parseArgs([], rep, "u").csv, []);
  assert.deepEqual(parseArgs(["--csv", "a.csv", "--csv=b.csv"], rep, "u").csv, ["a.csv", "b.csv"]);
  assert.throws(
    () => parseArgs([], [{ name: "n", type: "number", help: "", repeatable: true }], "u"),
    /only string options can be repeatable/,
  );
});
