// kill -9 at seeded random points of `deno task train` and of `deno task reproduce` (smoke preset),
// each resumed by starting the same command again: the result must be byte-identical to an
// uninterrupted run. CYBORG_KILL_POINTS sets the number of points per tool: 5 by default (about
// 1 min for both on 2 busy cores), `CYBORG_KILL_POINTS=10 deno test -A tests/kill_resume_test.ts`
// for ten each (1 min 51 s on the same machine). CYBORG_KILL_VERBOSE=1 prints each point. About a
// third of the resumed runs are killed a second time.
import assert from "node:assert/strict";
import { processAlive } from "../lib/folder_lock.ts";
import { Rng } from "../lib/rng.ts";
import { tinyDataRoot } from "./_support/tiny_data.ts";

// Spawned tools resolve against the project root, whatever the test process's cwd (another
// test module in this process may change it).
const PROJECT_ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);

const POINTS = Number(Deno.env.get("CYBORG_KILL_POINTS") ?? "5");
if (!Number.isInteger(POINTS) || POINTS < 1) {
  throw new Error(`CYBORG_KILL_POINTS: expected an integer >= 1, got ${POINTS}`);
}
const root = await tinyDataRoot();
// The backend every spawned run uses, fixed when this module loads: the reference run and its
// resumes must not differ in it, whatever the shared test process's environment does meanwhile.
const BACKEND = Deno.env.get("CYBORG_BACKEND") ?? "";

function command(args: string[], stderr: "piped" | "null" = "piped"): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    cwd: PROJECT_ROOT,
    args: ["run", "-A", ...args],
    env: { NO_COLOR: "1", CYBORG_BACKEND: BACKEND },
    stdout: "null",
    stderr,
  });
}

/** Runs to the end; returns the wall time in ms. */
async function complete(args: string[]): Promise<number> {
  const t0 = performance.now();
  const o = await command(args).output();
  assert.equal(o.code, 0, new TextDecoder().decode(o.stderr).slice(-3000));
  return performance.now() - t0;
}

/** Starts, waits `ms`, kills with SIGKILL (unless it ended before); true when it was killed. */
async function killAfter(args: string[], ms: number): Promise<boolean> {
  const child = command(args, "null").spawn();
  let ended = false;
  const status = child.status.then((s) => (ended = true, s));
  await Promise.race([status, new Promise((r) => setTimeout(r, ms))]);
  const killed = !ended;
  if (killed) child.kill("SIGKILL");
  await status;
  if (Deno.env.get("CYBORG_KILL_VERBOSE")) {
    console.log(`${killed ? "killed" : "ended before"} at ${ms.toFixed(0)} ms`);
  }
  return killed;
}

/** Relative paths of every file below `dir` that a resumed run must reproduce byte for byte. */
async function resultFiles(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${rel}`)) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...(await resultFiles(dir, p)));
    else if (/(\.safetensors|val_scores\.csv|\/eval\/.*\.(csv|json)|aucs\.json)$/.test(p)) {
      out.push(p);
    }
  }
  return out.sort();
}

async function assertSameResults(reference: string, resumed: string): Promise<void> {
  const files = await resultFiles(reference);
  assert.ok(files.length > 0);
  assert.deepEqual(await resultFiles(resumed), files);
  for (const f of files) {
    assert.deepEqual(
      await Deno.readFile(`${resumed}/${f}`),
      await Deno.readFile(`${reference}/${f}`),
      `${f} differs after a kill and a resume`,
    );
  }
}

/** Kills at `POINTS` seeded random times within the reference wall time, resumes, compares. */
async function killAndResume(
  seed: string,
  args: (out: string) => string[],
  check: (out: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cyborg-kill-" });
  await complete([...args(`${dir}/unused`), "--help"]); // type-checks the tool once
  const wall = await complete(args(`${dir}/reference`));
  if (Deno.env.get("CYBORG_KILL_VERBOSE")) console.log(`reference run: ${wall.toFixed(0)} ms`);
  const rng = new Rng(seed);
  let killed = 0;
  for (let i = 0; i < POINTS; i++) {
    const out = `${dir}/killed${i}`;
    // A point in the run (its start-up included); a second kill in the resumed run at times.
    if (await killAfter(args(out), rng.uniform() * wall)) killed++;
    if (rng.chance(0.3) && (await killAfter(args(out), rng.uniform() * wall * 0.5))) killed++;
    await complete(args(out));
    await assertSameResults(`${dir}/reference`, out);
    await check(out);
  }
  assert.ok(killed > 0, "no run was killed before it ended");
  await Deno.remove(dir, { recursive: true });
}

Deno.test("train killed with SIGKILL at random points resumes to byte-identical checkpoints", async () => {
  await killAndResume(
    "kill-train",
    (out) => [
      "tools/train.ts",
      ...["--backend", "cpu", "--network", "tinycnn", "--input-size", "16", "--alpha", "0.5"],
      ...[
        "--csv",
        `${root}/csvs/original.csv`,
        "--dataset",
        root,
        "--heatmaps",
        `${root}/heatmaps`,
      ],
      ...["--epochs", "3", "--batch-size", "4", "--log-every", "1", "--output", out],
    ],
    async (out) => {
      const log = (await Deno.readTextFile(`${out}/log.jsonl`)).trim().split("\n").map((l) =>
        JSON.parse(l)
      );
      const steps = log.filter((r) => r.type === "step").map((r) => r.step);
      assert.equal(new Set(steps).size, steps.length, "a step logged twice after the resume");
      assert.deepEqual(log.filter((r) => r.type === "epoch").map((r) => r.epoch), [1, 2, 3]);
      assert.equal(await Deno.stat(`${out}/.lock`).then(() => true, () => false), false);
    },
  );
});

Deno.test("reproduce (smoke) killed with SIGKILL at random points resumes to identical results", async () => {
  await killAndResume(
    "kill-reproduce",
    (out) => [
      "tools/reproduce.ts",
      ...["--preset", "smoke", "--data", root, "--out", out, "--jobs", "1"],
      ...["--strategies", "baseline,cyborg"],
    ],
    async (out) => {
      for (const s of ["baseline", "cyborg"]) {
        const summary = JSON.parse(await Deno.readTextFile(`${out}/data/${s}/s0/summary.json`));
        assert.equal(summary.status, "finished");
      }
    },
  );
});

Deno.test("reproduce --jobs 2 killed with SIGKILL: its run processes stop too; the rerun finishes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cyborg-kill-" });
  const out = `${dir}/exp`;
  const args = [
    "tools/reproduce.ts",
    ...["--preset", "smoke", "--data", root, "--out", out, "--jobs", "2"],
    ...["--strategies", "baseline,cyborg"],
  ];
  // Runs whose folder is locked by a live process (a lock file left by a process that died is
  // not one: the rerun takes it over).
  const locks = () =>
    ["baseline", "cyborg"].filter((s) => {
      try {
        const { pid } = JSON.parse(Deno.readTextFileSync(`${out}/data/${s}/s0/.lock`));
        return processAlive(pid);
      } catch {
        return false;
      }
    });
  // The killed job trains on the cpu backend, whose steps take seconds: an orphan stops at its
  // next step. One that did not stop either still holds its lock after the wait below (up to
  // 60 s: steps are slow on busy cores) or has scored its test sets; both fail. The rerun uses
  // the default backend.
  const child = command([...args, "--backend", "cpu"], "null").spawn();
  for (let i = 0; i < 1200 && locks().length === 0; i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  const held = locks();
  assert.ok(held.length > 0, "no run started");
  child.kill("SIGKILL");
  await child.status;
  // The orphaned runs notice the parent is gone and stop before scoring.
  for (let i = 0; i < 2400 && locks().length > 0; i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.deepEqual(locks(), [], "a run process outlived the experiment");
  const scored = held.filter((s) => {
    try {
      Deno.statSync(`${out}/data/${s}/s0/eval/mean_cams.json`);
      return true;
    } catch {
      return false;
    }
  });
  assert.ok(scored.length < held.length, "the orphaned runs went on to the end");
  await complete(args);
  for (const s of ["baseline", "cyborg"]) {
    const summary = JSON.parse(await Deno.readTextFile(`${out}/data/${s}/s0/summary.json`));
    assert.equal(summary.status, "finished");
  }
  await Deno.remove(dir, { recursive: true });
});
