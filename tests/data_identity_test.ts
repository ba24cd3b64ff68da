import assert from "node:assert/strict";
import { checkDataIdentity, DATA_IDENTITY_FILE, dataIdentity } from "../lib/data_identity.ts";

async function paperRoot(dir: string, rows: string) {
  await Deno.mkdir(`${dir}/csvs/test_sets`, { recursive: true });
  await Deno.writeTextFile(`${dir}/csvs/original.csv`, rows);
  await Deno.writeTextFile(`${dir}/csvs/test_sets/a.csv`, "test,Real,/images/x.png\n");
}

Deno.test("dataIdentity: the generator's digest for the embedded data, a CSV hash otherwise", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/COMPLETE.json`, JSON.stringify({ digest: "abc123" }));
  assert.equal(await dataIdentity(dir), "procfaces:abc123");
  const paper = `${dir}/paper`;
  await paperRoot(paper, "train,Real,/images/a.png\n");
  const id = await dataIdentity(paper);
  assert.match(id, /^csv:[0-9a-f]{16}$/);
  assert.equal(await dataIdentity(paper), id, "deterministic");
  await Deno.writeTextFile(`${paper}/csvs/test_sets/a.csv`, "test,Synthetic,/images/x.png\n");
  assert.notEqual(await dataIdentity(paper), id, "a changed test set changes it");
  await assert.rejects(() => dataIdentity(`${dir}/none`), /none\/csvs: no CSV files/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("checkDataIdentity records, accepts the same data, refuses other data unless fresh", async () => {
  const dir = await Deno.makeTempDir();
  const root = `${dir}/data`;
  await paperRoot(root, "train,Real,/images/a.png\n");
  const out = `${dir}/results/exp`;
  const v = { name: "data", root };
  await checkDataIdentity(out, v);
  const rec = JSON.parse(await Deno.readTextFile(`${out}/data/${DATA_IDENTITY_FILE}`));
  assert.equal(rec.identity, await dataIdentity(root));
  await Deno.mkdir(`${out}/data/baseline/s0`, { recursive: true });
  await checkDataIdentity(out, v); // same data: fine
  await Deno.writeTextFile(`${root}/csvs/original.csv`, "train,Synthetic,/images/a.png\n");
  await assert.rejects(
    () => checkDataIdentity(out, v),
    (e: Error) => {
      assert.match(e.message, new RegExp(`${out}/data: its runs were trained on other data`));
      assert.match(e.message, /--fresh/);
      return true;
    },
  );
  assert.ok(await Deno.stat(`${out}/data/baseline/s0`), "nothing moved without --fresh");
  const lines: string[] = [];
  await checkDataIdentity(out, v, { fresh: true, log: (l) => lines.push(l) });
  const stale = [...Deno.readDirSync(`${out}.stale`)].map((e) => e.name);
  assert.equal(stale.length, 1);
  assert.ok(await Deno.stat(`${out}.stale/${stale[0]}/baseline/s0`), "old runs kept, set aside");
  assert.match(lines[0], /moved to/);
  const now = JSON.parse(await Deno.readTextFile(`${out}/data/${DATA_IDENTITY_FILE}`));
  assert.equal(now.identity, await dataIdentity(root));
  assert.deepEqual([...Deno.readDirSync(`${out}/data`)].map((e) => e.name), [DATA_IDENTITY_FILE]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("checkDataIdentity adopts a folder made before identities were recorded, saying so", async () => {
  const dir = await Deno.makeTempDir();
  const root = `${dir}/data`;
  await paperRoot(root, "train,Real,/images/a.png\n");
  await Deno.mkdir(`${dir}/out/data/cyborg/s0`, { recursive: true });
  const lines: string[] = [];
  await checkDataIdentity(`${dir}/out`, { name: "data", root }, { log: (l) => lines.push(l) });
  assert.match(lines[0], /has no data_identity\.json/);
  assert.ok(await Deno.stat(`${dir}/out/data/${DATA_IDENTITY_FILE}`));
  await Deno.remove(dir, { recursive: true });
});
