/**
 * `reproduce --executor slurm`: the generated scripts, the status logic, and a real one-node Slurm
 * cluster (tests/_support/slurm_cluster.ts) running the smoke preset as a job array, compared byte
 * for byte with `--executor local`, then a task cancelled mid-run and resubmitted.
 */
import assert from "node:assert/strict";
import { arrayScript, checkSlurmOpts, collectScript, shellQuote } from "../lib/slurm/sbatch.ts";
import { classifyTasks, parseScontrol, parseTaskIds, progressLine } from "../lib/slurm/status.ts";
import { type SlurmCluster, startSlurmCluster } from "./_support/slurm_cluster.ts";
import { runTool } from "./_support/tool.ts";

const REPRODUCE = new URL("../tools/reproduce.ts", import.meta.url).pathname;
const dec = new TextDecoder();

Deno.test("arrayScript: one task per run, throttle, log path, GPUs and user options", () => {
  const s = arrayScript({
    out: "/x/out",
    jobsFile: "/x/out/.slurm/submission-1/jobs.json",
    tasks: 8,
    parallel: 2,
    gpusPerRun: 1,
    slurmOpts: ["--partition=gpu", "--time=04:00:00"],
    name: "cyborg-paper-runs",
    deno: "/opt/deno",
    root: "/kit",
    cwd: "/home/u/kit dir",
  });
  const sbatch = s.split("\n").filter((l) => l.startsWith("#SBATCH"));
  assert.deepEqual(sbatch, [
    "#SBATCH --job-name=cyborg-paper-runs",
    "#SBATCH --array=0-7%2",
    "#SBATCH --output=/x/out/.slurm/logs/%A_%a.out",
    "#SBATCH --cpus-per-task=1",
    "#SBATCH --gres=gpu:1",
    "#SBATCH --partition=gpu",
    "#SBATCH --time=04:00:00",
  ]);
  assert.match(s, /^cd '\/home\/u\/kit dir'$/m);
  assert.match(
    s,
    /^\/opt\/deno run -A --quiet --config \/kit\/deno\.json \/kit\/lib\/slurm\/task\.ts \/x\/out\/\.slurm\/submission-1\/jobs\.json "\$SLURM_ARRAY_TASK_ID"$/m,
  );
  assert.match(
    s,
    /echo "\$rc" > "\/x\/out\/\.slurm\/exit\/\$\{SLURM_ARRAY_JOB_ID\}_\$\{SLURM_ARRAY_TASK_ID\}"/,
  );
  const noGpu = arrayScript({
    out: "/o",
    jobsFile: "/o/j.json",
    tasks: 1,
    gpusPerRun: 0,
    slurmOpts: [],
    name: "n",
    deno: "/d",
    root: "/k",
    cwd: "/k",
  });
  assert.match(noGpu, /^#SBATCH --array=0-0$/m);
  assert.doesNotMatch(noGpu, /gres/);
});

Deno.test("collectScript: runs after the whole array and calls reproduce --collect", () => {
  const s = collectScript({
    out: "/x/out",
    arrayId: "41",
    args: ["--preset", "paper", "--out", "results/paper"],
    slurmOpts: ["--partition=gpu"],
    name: "cyborg-paper-report",
    deno: "/opt/deno",
    root: "/kit",
    cwd: "/kit",
  });
  assert.match(s, /^#SBATCH --dependency=afterany:41$/m);
  assert.match(s, /^#SBATCH --output=\/x\/out\/\.slurm\/logs\/report_%j\.out$/m);
  assert.match(s, /^#SBATCH --partition=gpu$/m);
  assert.match(
    s,
    /^exec \/opt\/deno run -A --config \/kit\/deno\.json \/kit\/tools\/reproduce\.ts --preset paper --out results\/paper --collect$/m,
  );
});

Deno.test("checkSlurmOpts and shellQuote", () => {
  checkSlurmOpts(["--partition=gpu", "--exclusive", "--time=04:00:00"]);
  assert.throws(
    () => checkSlurmOpts(["partition=gpu"]),
    /--slurm-opt: "partition=gpu" is not one sbatch option/,
  );
  assert.throws(() => checkSlurmOpts(["--x=1\n#SBATCH --y"]), /--slurm-opt/);
  assert.throws(() => checkSlurmOpts(["--array=0-3"]), /--slurm-opt: --array is set by the kit/);
  assert.equal(shellQuote("a b'c"), `'a b'\\''c'`);
  assert.equal(shellQuote("/a/b.json"), "/a/b.json");
});

Deno.test("status: scontrol records, task ranges, and how each task is counted", () => {
  assert.deepEqual(parseTaskIds("3-5%2"), [3, 4, 5]);
  assert.deepEqual(parseTaskIds("1,4-5"), [1, 4, 5]);
  const recs = parseScontrol([
    "JobId=12 ArrayJobId=10 ArrayTaskId=4-5%2 JobState=PENDING ExitCode=0:0 StdOut=/x",
    "JobId=11 ArrayJobId=10 ArrayTaskId=1 JobState=RUNNING ExitCode=0:0",
    "JobId=10 ArrayJobId=10 ArrayTaskId=0 JobState=CANCELLED ExitCode=0:15",
    "JobId=13 ArrayJobId=10 ArrayTaskId=2 JobState=COMPLETED ExitCode=0:0",
    "JobId=14 ArrayJobId=10 ArrayTaskId=3 JobState=FAILED ExitCode=1:0",
  ].join("\n"));
  assert.equal(recs.length, 5);
  assert.deepEqual(parseScontrol("JobId=15 JobName=report JobState=PENDING ExitCode=0:0"), [
    { tasks: [], state: "PENDING", exitCode: "0:0" },
  ]);
  const t = classifyTasks(
    [false, false, true, false, false, false, false, false],
    recs,
    [undefined, undefined, undefined, undefined, undefined, undefined, "1", undefined],
    true,
  );
  assert.deepEqual(t.map((x) => x.state), [
    "failed",
    "running",
    "done",
    "failed",
    "pending",
    "pending",
    "failed",
    "pending",
  ]);
  assert.equal(t[0].detail, "CANCELLED, exit 0:15");
  assert.equal(t[3].detail, "FAILED, exit 1:0");
  assert.equal(t[6].detail, "exit 1");
  assert.equal(progressLine("10", t), "slurm array 10: 1/8 done, 1 running, 3 pending, 3 failed");
  // Once the array is over, a task Slurm forgot without a finished run failed.
  const over = classifyTasks([false], [], [undefined], false);
  assert.equal(over[0].state, "failed");
});

async function reproduce(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", REPRODUCE, ...args],
    env: { ...env, CYBORG_SLURM_POLL_S: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("--dry-run prints both scripts and submits nothing; slurm options need --executor slurm", async () => {
  const out = await Deno.makeTempDir({ prefix: "cyborg-slurm-dry-" });
  const r = await reproduce([
    "--preset",
    "smoke",
    "--out",
    out,
    "--executor",
    "slurm",
    "--dry-run",
    "--jobs",
    "3",
    "--gpus-per-run",
    "1",
    "--slurm-opt=--partition=gpu",
    "--slurm-opt",
    "--time=04:00:00",
  ], { PATH: "/nonexistent" });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^#SBATCH --array=0-7%3$/m);
  assert.match(r.stdout, /^#SBATCH --gres=gpu:1$/m);
  assert.match(r.stdout, /^#SBATCH --partition=gpu$/m);
  assert.match(r.stdout, /^#SBATCH --time=04:00:00$/m);
  assert.match(r.stdout, /^#SBATCH --dependency=afterany:<array job id>$/m);
  assert.match(r.stdout, /reproduce\.ts --preset smoke --out \S+ --jobs 1 --collect$/m);
  assert.deepEqual([...Deno.readDirSync(out)], [], "--dry-run wrote nothing");
  const noSlurm = await reproduce(
    ["--preset", "smoke", "--out", out, "--executor", "slurm"],
    { PATH: "/nonexistent" },
  );
  assert.equal(noSlurm.code, 1);
  assert.match(noSlurm.stderr, /^error: --executor slurm: sbatch not found; Slurm's client/m);
  assert.equal(await Deno.stat(`${out}/.slurm`).then(() => true, () => false), false);
  const bad = await reproduce(["--preset", "smoke", "--out", out, "--no-wait"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error: --no-wait needs --executor slurm$/m);
  const badOpt = await reproduce([
    "--preset",
    "smoke",
    "--out",
    out,
    "--executor",
    "slurm",
    "--slurm-opt",
    "partition=gpu",
  ]);
  assert.equal(badOpt.code, 1);
  assert.match(badOpt.stderr, /^error: --slurm-opt: "partition=gpu" is not one sbatch option/m);
  await Deno.remove(out, { recursive: true });
});

const read = (p: string) => Deno.readFile(p);

async function sameResults(a: string, b: string) {
  assert.deepEqual(await read(`${b}/aucs.json`), await read(`${a}/aucs.json`), `${b}/aucs.json`);
  const claims = await read(`${a}/claims.json`).catch(() => undefined);
  if (claims) assert.deepEqual(await read(`${b}/claims.json`), claims, `${b}/claims.json`);
  assert.ok((await Deno.stat(`${b}/report.html`)).isFile);
}

Deno.test({
  name:
    "the report job (--collect) and a resubmission with every run done run the preset's controls, as a local job does",
  fn: async () => {
    // reproduce with the smoke preset given one control (its pipeline-check pre-registration).
    const withControl = async (args: string[]) => {
      const r = await runTool("tests/_support/smoke_with_control.ts", [
        "--preset",
        "smoke",
        ...args,
      ]);
      assert.equal(r.code, 0, r.err);
    };
    const tmp = await Deno.makeTempDir({ prefix: "cyborg-slurm-controls-" });
    try {
      await withControl(["--out", `${tmp}/local`, "--jobs", "2"]);
      const claims = await Deno.readTextFile(`${tmp}/local/claims.json`);
      assert.match(claims, /"smoke_positive\.cyborg_vs_baseline\.t1"/);
      // The runs of the grid done (as after the job array), the control and the report not.
      for (
        const [name, args] of [
          ["collect", ["--jobs", "1", "--collect"]], // the report job's arguments
          ["resubmit", ["--executor", "slurm"]], // nothing to submit: the report in this process
        ]
      ) {
        const d = `${tmp}/${name}`;
        const cp = await new Deno.Command("cp", { args: ["-a", `${tmp}/local`, d] }).output();
        assert.ok(cp.success);
        for (const f of ["positive", "aucs.json", "claims.json", "report.html"]) {
          await Deno.remove(`${d}/${f}`, { recursive: true });
        }
        await withControl(["--out", d, ...args]);
        await sameResults(`${tmp}/local`, d);
      }
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "a real Slurm cluster: smoke preset as a job array equals --executor local; a cancelled task is resubmitted",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "cyborg-slurm-exp-" });
    const cluster: SlurmCluster = await startSlurmCluster();
    const env = { ...cluster.env };
    try {
      const local = await reproduce(["--preset", "smoke", "--out", `${tmp}/local`, "--jobs", "2"]);
      assert.equal(local.code, 0, local.stderr);

      // Submitted without waiting; a later call with only --out follows the live array.
      const s = await reproduce([
        "--preset",
        "smoke",
        "--out",
        `${tmp}/slurm`,
        "--executor",
        "slurm",
        "--jobs",
        "2",
        "--no-wait",
      ], env);
      assert.equal(s.code, 0, s.stderr);
      assert.match(s.stderr, /submitted job array \d+ \(8 of 8 run\(s\); 0 already done\)/);
      const follow = await reproduce(["--out", `${tmp}/slurm`], env);
      assert.equal(follow.code, 0, follow.stderr);
      assert.match(follow.stderr, /job array \d+ \(report job \d+\) is live; waiting/);
      assert.match(follow.stderr, /slurm array \d+: 8\/8 done, 0 running, 0 pending, 0 failed/);
      await sameResults(`${tmp}/local`, `${tmp}/slurm`);

      // A task cancelled mid-run: the waiting submitter lists it with its state and log.
      const k = `${tmp}/killed`;
      const waiting = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          REPRODUCE,
          "--preset",
          "smoke",
          "--out",
          k,
          "--executor",
          "slurm",
          "--jobs",
          "2",
        ],
        env: { ...env, CYBORG_SLURM_POLL_S: "1" },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      let arrayId = "";
      for (let i = 0; i < 600 && !arrayId; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const q = await cluster.cmd("squeue", ["-h", "-r", "-o", "%F %K %T"]);
        const m = /^(\d+) 0 RUNNING$/m.exec(q);
        if (m) arrayId = m[1];
      }
      assert.ok(arrayId, "task 0 never ran");
      // Cancelled at once: a smoke run takes seconds, and must not finish first.
      await cluster.cmd("scancel", [`${arrayId}_0`]);
      // A second submission while the array is live is refused, naming it.
      const second = await reproduce(
        ["--preset", "smoke", "--out", k, "--executor", "slurm"],
        env,
      );
      assert.equal(second.code, 1);
      assert.match(second.stderr, new RegExp(`is being written by Slurm job array ${arrayId} `));
      // So is a local run of the folder while the rest of the array runs.
      const local2 = await reproduce(["--preset", "smoke", "--out", k, "--executor", "local"], env);
      assert.equal(local2.code, 1);
      assert.match(local2.stderr, new RegExp(`is being written by Slurm job array ${arrayId} `));
      const w = await waiting.output();
      const werr = dec.decode(w.stderr);
      assert.equal(w.code, 1, werr);
      assert.match(werr, new RegExp(`job array ${arrayId}: 1 of 8 run\\(s\\) failed, no report`));
      assert.match(
        werr,
        new RegExp(
          `task 0 \\(.*/shortcut/baseline/s0\\): CANCELLED, exit \\S+; log \\S+/\\.slurm/logs/${arrayId}_0\\.out`,
        ),
      );
      // Resubmitted with only --out: the recorded options, only the missing run.
      const again = await reproduce(["--out", k], env);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /submitted job array \d+ \(1 of 8 run\(s\); 7 already done\)/);
      await sameResults(`${tmp}/local`, k);
      // Everything done: another call submits nothing and writes the report in its own process.
      const done = await reproduce(["--out", k], env);
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stderr, /every run is finished and scored; writing the report/);
      await sameResults(`${tmp}/local`, k);
    } finally {
      await cluster.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
