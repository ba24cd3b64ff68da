/** The store's judgments file under concurrent writers in two processes. */
import assert from "node:assert/strict";
import { readJudgments } from "../../lib/annotate/store.ts";

Deno.test("judgments.csv: two processes writing one annotator's judgments lose no row", async () => {
  const root = await Deno.makeTempDir({ prefix: "cyborg-annot-store-" });
  try {
    const store = new URL("../../lib/annotate/store.ts", import.meta.url).href;
    const start = Date.now() + 2500; // both processes begin writing at the same moment
    const n = 40;
    const child = (k: number) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { saveJudgment } from ${JSON.stringify(store)};
          await new Promise((r) => setTimeout(r, Math.max(0, ${start} - Date.now())));
          for (let i = 0; i < ${n}; i++) {
            await saveJudgment(${JSON.stringify(root)}, "ann", {
              image: "p${k}_" + i + ".png", label: "Real", ms: i, answeredAt: "t" });
          }`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const outs = await Promise.all([child(0), child(1)]);
    for (const o of outs) assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
    const j = await readJudgments(root, "ann");
    assert.equal(j.size, 2 * n, `${2 * n - j.size} judgment(s) lost`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
