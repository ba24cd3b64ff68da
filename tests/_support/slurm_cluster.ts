/**
 * A one-node Slurm cluster on localhost for tests: munged, slurmctld and slurmd started as root
 * with a generated munge key and `slurm.conf` under a temporary folder (free ports, linuxproc
 * process tracking, no cgroups, accounting off). `stop()` ends exactly the daemons it started, by
 * pid, and removes the folder. Installs Debian's slurm-wlm and munge when they are missing
 * (`tools/ensure_test_deps.sh` lists them too).
 *
 * @module
 */

/** A running test cluster. */
export interface SlurmCluster {
  /** Environment for the client commands (`SLURM_CONF`). */
  env: Record<string, string>;
  /** The temporary folder (config, state, logs). */
  dir: string;
  /** Runs a client command (sbatch, squeue, scontrol, scancel) against the cluster. */
  cmd(name: string, args: string[]): Promise<string>;
  /** Stops the daemons it started and removes its folder. */
  stop(): Promise<void>;
}

async function sh(cmd: string, args: string[], env?: Record<string, string>) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { ok: out.success, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function ensureInstalled(): Promise<void> {
  const need = ["munged", "slurmctld", "slurmd", "sbatch"];
  const missing = [];
  for (const b of need) if (!(await sh("sh", ["-c", `command -v ${b}`])).ok) missing.push(b);
  if (missing.length === 0) return;
  const r = await sh("sh", [
    "-c",
    "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q install -y " +
    "--no-install-recommends slurm-wlm munge || (apt-get -q update && " +
    "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q install -y " +
    "--no-install-recommends slurm-wlm munge)",
  ]);
  if (!r.ok) throw new Error(`cannot install slurm-wlm and munge:\n${r.stderr.slice(-2000)}`);
}

function freePort(): number {
  const l = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function readPid(path: string): Promise<number | undefined> {
  for (let i = 0; i < 100; i++) {
    const t = await Deno.readTextFile(path).catch(() => "");
    if (/^\d+/.test(t.trim())) return Number(t.trim());
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

/** Starts the cluster (root only); throws with the daemons' logs when it does not come up. */
export async function startSlurmCluster(): Promise<SlurmCluster> {
  if (Deno.uid() !== 0) throw new Error("the Slurm test cluster needs root (munged, slurmd)");
  await ensureInstalled();
  const dir = await Deno.makeTempDir({ prefix: "cyborg-slurm-" });
  const pids: number[] = [];
  const host = (await sh("hostname", ["-s"])).stdout.trim();
  const cpus = navigator.hardwareConcurrency;
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(await Deno.readTextFile("/proc/meminfo"))![1]);
  const realMemory = Math.floor((memKb / 1024) * 0.8);
  for (const d of ["munge", "state", "spool", "log"]) await Deno.mkdir(`${dir}/${d}`);
  await Deno.chmod(`${dir}/munge`, 0o700);
  const key = crypto.getRandomValues(new Uint8Array(1024));
  await Deno.writeFile(`${dir}/munge/munge.key`, key, { mode: 0o400 });
  const sock = `${dir}/munge/munge.sock`;
  const env = { SLURM_CONF: `${dir}/slurm.conf` };
  const stop = async () => {
    // Jobs first, so that no job step outlives the daemons.
    if (pids.length === 3) {
      await sh("scancel", ["--full", "--user=root"], env);
      for (let i = 0; i < 100; i++) {
        const q = await sh("squeue", ["-h", "-o", "%i"], env);
        if (!q.ok || !q.stdout.trim()) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    for (const pid of pids.reverse()) {
      try {
        Deno.kill(pid, "SIGTERM");
      } catch { /* already gone */ }
      for (let i = 0; i < 50; i++) {
        try {
          Deno.kill(pid, "SIGCONT"); // throws once the process is gone
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    const m = await sh("munged", [
      `--socket=${sock}`,
      `--key-file=${dir}/munge/munge.key`,
      `--pid-file=${dir}/munge/munged.pid`,
      `--log-file=${dir}/munge/munged.log`,
      `--seed-file=${dir}/munge/munged.seed`,
      "--force",
    ]);
    if (!m.ok) throw new Error(`munged did not start: ${m.stderr}`);
    const mp = await readPid(`${dir}/munge/munged.pid`);
    if (mp) pids.push(mp);
    const [ctldPort, dPort] = [freePort(), freePort()];
    const conf = [
      "ClusterName=kittest",
      `SlurmctldHost=${host}`,
      "AuthType=auth/munge",
      `AuthInfo=socket=${sock}`,
      "CredType=cred/munge",
      "SlurmUser=root",
      "SlurmdUser=root",
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/log/slurmctld.log`,
      `SlurmdLogFile=${dir}/log/slurmd.log`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${dPort}`,
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_Core",
      "AccountingStorageType=accounting_storage/none",
      "JobAcctGatherType=jobacct_gather/none",
      "JobCompType=jobcomp/none",
      "MpiDefault=none",
      "ReturnToService=2",
      "KillWait=5",
      `NodeName=${host} CPUs=${cpus} RealMemory=${realMemory} State=UNKNOWN`,
      `PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
      "",
    ].join("\n");
    await Deno.writeTextFile(`${dir}/slurm.conf`, conf);
    for (const [daemon, pidFile] of [["slurmctld", "slurmctld.pid"], ["slurmd", "slurmd.pid"]]) {
      const r = await sh(daemon, ["-f", `${dir}/slurm.conf`], env);
      if (!r.ok) throw new Error(`${daemon} did not start: ${r.stderr}`);
      const pid = await readPid(`${dir}/${pidFile}`);
      if (pid) pids.push(pid);
    }
    for (let i = 0;; i++) {
      const s = await sh("sinfo", ["-h", "-o", "%T"], env);
      if (s.ok && /idle|mix|alloc/.test(s.stdout)) break;
      if (i > 150) throw new Error(`the node did not come up: ${s.stdout}${s.stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (e) {
    const logs = await Deno.readTextFile(`${dir}/log/slurmctld.log`).catch(() => "");
    await stop();
    throw new Error(`${(e as Error).message}\n${logs.slice(-2000)}`);
  }
  return {
    env,
    dir,
    async cmd(name, args) {
      const r = await sh(name, args, env);
      if (!r.ok) throw new Error(`${name} ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    },
    stop,
  };
}
