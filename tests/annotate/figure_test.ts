/** The notebook view of an annotation study: a root's own annotators, else the demo study. */
import assert from "node:assert/strict";
import { annotationStudyView } from "../../lib/annotate/figure.ts";
import { saveMap } from "../../lib/annotate/store.ts";
import { greyPng, makeFixture, treeSnapshot } from "./_fixture.ts";

const cells = (fig: { layout?: Record<string, unknown> }) =>
  (fig.layout!.images as unknown[]).length;

Deno.test("annotationStudyView: a root without annotators gets the merged demo study", async () => {
  const { root } = await makeFixture();
  try {
    const v = await annotationStudyView(root);
    try {
      assert.equal(v.demo, true);
      assert.notEqual(v.root, root);
      // 3 images with maps; per row: image, merged, ann_a, ann_b, ann_c.
      assert.equal(cells(v.figure), 15);
      assert.match(v.summary, /coverage: 4 \/ 4/);
      assert.match(v.summary, /ann_c: 3 map\(s\), judgments 2\/3 correct/);
    } finally {
      await Deno.remove(v.root, { recursive: true });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("annotationStudyView: a root's own annotators are shown and nothing is written", async () => {
  const { root } = await makeFixture();
  try {
    await saveMap(root, "zoe", "b.png", await greyPng(40, 30, (x) => (x < 10 ? 255 : 0)));
    const before = await treeSnapshot(root);
    const v = await annotationStudyView(root);
    assert.equal(v.demo, false);
    assert.equal(v.root, root);
    assert.equal(cells(v.figure), 3); // image, merged (none yet), zoe
    assert.match(v.summary, /coverage: 1 \/ 3/);
    assert.doesNotMatch(v.summary, /merged maps written/);
    assert.deepEqual(await treeSnapshot(root), before);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
