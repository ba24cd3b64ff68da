import assert from "node:assert/strict";
import { LOCK_FILE, lockFolder, processAlive } from "../lib/folder_lock.ts";

const LOCK_MODULE = new URL("../lib/folder_lock.ts", import.meta.url).href;

/** Runs `code` in another Deno process; returns its exit code and stderr. */
async function other(code: string): Promise<{ code: number; err: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, err: new TextDecoder().decode(out.stderr) };
}

Deno.test("a second process cannot take a held lock; the error names pid, host and since", async () => {
  const dir = await Deno.makeTempDir();
  const lock = await lockFolder(dir, "run folder");
  const info = JSON.parse(await Deno.readTextFile(`${dir}/${LOCK_FILE}`));
  assert.equal(info.pid, Deno.pid);
  const r = await other(
    `import { lockFolder } from "${LOCK_MODULE}";
     try { await lockFolder(${JSON.stringify(dir)}, "run folder"); Deno.exit(0); }
     catch (e) { console.error(e.message); Deno.exit(3); }`,
  );
  assert.equal(r.code, 3);
  assert.match(
    r.err,
    new RegExp(
      `run folder ${dir} is in use by another process \\(pid ${Deno.pid} on ${Deno.hostname()}, ` +
        `since ${info.since.replace(/\./g, "\\.")}\\)`,
    ),
  );
  // Re-entrant within one process; the file goes with the last release.
  const again = await lockFolder(dir, "run folder");
  await again.release();
  assert.ok(await Deno.stat(`${dir}/${LOCK_FILE}`).then(() => true, () => false));
  await lock.release();
  assert.equal(await Deno.stat(`${dir}/${LOCK_FILE}`).then(() => true, () => false), false);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a lock left by a dead process on this host is stale and taken over", async () => {
  const dir = await Deno.makeTempDir();
  // A pid that has just exited.
  const child = new Deno.Command(Deno.execPath(), { args: ["eval", ""] }).spawn();
  const pid = child.pid;
  await child.status;
  assert.equal(processAlive(pid), false);
  const stale = { pid, host: Deno.hostname(), since: "2000-01-01T00:00:00.000Z" };
  await Deno.writeTextFile(`${dir}/${LOCK_FILE}`, JSON.stringify(stale));
  const lock = await lockFolder(dir, "run folder");
  assert.equal(JSON.parse(await Deno.readTextFile(lock.path)).pid, Deno.pid);
  await lock.release();
  // A lock taken on another host cannot be checked for staleness: refused.
  await Deno.writeTextFile(`${dir}/${LOCK_FILE}`, JSON.stringify({ ...stale, host: "elsewhere" }));
  await assert.rejects(
    lockFolder(dir, "run folder"),
    /in use by another process \(pid \d+ on elsewhere/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a lock is removed when its process exits by Deno.exit or SIGTERM", async () => {
  const dir = await Deno.makeTempDir();
  const r = await other(
    `import { lockFolder } from "${LOCK_MODULE}";
     await lockFolder(${JSON.stringify(dir)}, "run folder"); Deno.exit(1);`,
  );
  assert.equal(r.code, 1);
  assert.equal(await Deno.stat(`${dir}/${LOCK_FILE}`).then(() => true, () => false), false);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { lockFolder } from "${LOCK_MODULE}";
       await lockFolder(${JSON.stringify(dir)}, "run folder"); console.log("locked");
       await new Promise((r) => setTimeout(r, 60000));`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read(); // "locked"
  reader.releaseLock();
  child.kill("SIGTERM");
  const status = await child.status;
  await child.stdout.cancel();
  assert.equal(status.code, 143);
  assert.equal(await Deno.stat(`${dir}/${LOCK_FILE}`).then(() => true, () => false), false);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a process that exits while writing its lock's info leaves no lock behind", async () => {
  for (let i = 0; i < 5; i++) {
    const dir = await Deno.makeTempDir();
    const lock = `${await Deno.realPath(dir)}/${LOCK_FILE}`;
    // Exit the moment the lock file exists: its owner info may not be written yet.
    const r = await other(
      `import { lockFolder } from "${LOCK_MODULE}";
       lockFolder(${JSON.stringify(dir)}, "run folder");
       for (;;) {
         try { Deno.statSync(${JSON.stringify(lock)}); break; } catch { /* not yet */ }
         await new Promise((r) => setTimeout(r, 0));
       }
       Deno.exit(1);`,
    );
    assert.equal(r.code, 1, r.err);
    assert.equal(await Deno.stat(lock).then(() => true, () => false), false, `try ${i}`);
    await Deno.remove(dir, { recursive: true });
  }
});
