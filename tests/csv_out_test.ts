import assert from "node:assert/strict";
import { appendCsv, csvField } from "../lib/csv_out.ts";

Deno.test("csvField quotes fields with commas, quotes or line breaks only", () => {
  assert.equal(csvField("plain"), "plain");
  assert.equal(csvField(1.5), "1.5");
  assert.equal(csvField("a,b"), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField("two\nlines"), '"two\nlines"');
  assert.equal(csvField("cr\r"), '"cr\r"');
});

Deno.test("appendCsv refuses a file with another header, naming it, and leaves it unchanged", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/old.csv`;
  await Deno.writeTextFile(path, "a,b\n1,2\n");
  await assert.rejects(() => appendCsv(path, "a,b,c", ["1,2,3"]), new RegExp(`${path}:1: header`));
  assert.equal(await Deno.readTextFile(path), "a,b\n1,2\n");
  await appendCsv(`${dir}/new/x.csv`, "a,b", ["1,2"]);
  await appendCsv(`${dir}/new/x.csv`, "a,b", ["3,4"]);
  assert.equal(await Deno.readTextFile(`${dir}/new/x.csv`), "a,b\n1,2\n3,4\n");
  await Deno.remove(dir, { recursive: true });
});
