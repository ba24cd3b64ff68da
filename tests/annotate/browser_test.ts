/**
 * The annotation page in real headless Chromium (DevTools protocol): judging, painting with brush,
 * eraser, undo and redo, saving, reloading and resuming, two annotators at once, the keyboard
 * shortcuts of the brush size, clear, redo and zoom, and the recorded response times. The saved
 * PNGs are checked pixel by pixel.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { decodeImage } from "../../lib/data/image.ts";
import { startAnnotateServer } from "../../lib/annotate/server.ts";
import { readJudgments } from "../../lib/annotate/store.ts";
import { type CdpPage, launchBrowser } from "../_support/cdp.ts";
import { makeFixture } from "./_fixture.ts";

/** Viewport coordinates of image pixel centre (x, y) in the page's mask canvas. */
async function at(page: CdpPage, x: number, y: number): Promise<[number, number]> {
  return await page.eval<[number, number]>(`(() => {
    const m = document.getElementById("mask"), r = m.getBoundingClientRect();
    return [r.left + ${x + 0.5} * r.width / m.width, r.top + ${y + 0.5} * r.height / m.height];
  })()`);
}

/** Drags through image pixels (x, y), in 8 steps per segment. */
async function paint(page: CdpPage, pts: [number, number][]): Promise<void> {
  const path: [number, number][] = [];
  for (let i = 0; i + 1 < pts.length; i++) {
    for (let k = 0; k <= 8; k++) {
      const t = k / 8;
      path.push(
        await at(
          page,
          pts[i][0] + t * (pts[i + 1][0] - pts[i][0]),
          pts[i][1] + t * (pts[i + 1][1] - pts[i][1]),
        ),
      );
    }
  }
  await page.drag(path);
}

async function setBrush(page: CdpPage, px: number): Promise<void> {
  await page.eval(`(() => { const s = document.getElementById("size"); s.value = ${px};
    s.dispatchEvent(new Event("input")); })()`);
}

const status = (s: string, item?: string) =>
  `document.body.dataset.status === ${JSON.stringify(s)}` +
  (item ? ` && document.body.dataset.item === ${JSON.stringify(item)}` : "");

async function grey(path: string) {
  const meta = await sharp(path).metadata();
  assert.deepEqual([meta.channels, meta.depth], [1, "uchar"], `${path} is not 8-bit grey`);
  return await decodeImage(path, "L");
}

Deno.test("page: judge, paint, erase, undo/redo, save, reload and resume; pixels on disk", async () => {
  const { root, csv } = await makeFixture();
  const server = await startAnnotateServer({ data: root, csv, port: 0 });
  const browser = await launchBrowser();
  try {
    const opened = Date.now();
    const page = await browser.open(`${server.url}/annotate/alice`);
    await page.waitFor(status("judge", "a.png"), "the first image");
    const shown = Date.now(); // the image is shown by now
    assert.equal(await page.eval(`document.getElementById("progress").textContent`), "0 of 3");
    assert.match(await page.eval<string>(`document.getElementById("keys").textContent`), /Ctrl\+Z/);

    // Painting before answering draws nothing.
    await setBrush(page, 4);
    await paint(page, [[5, 1], [30, 1]]);
    // The response time runs from the image shown to the answer.
    await new Promise((r) => setTimeout(r, Math.max(0, shown + 350 - Date.now())));
    await page.key("s");
    const answered = Date.now();
    await page.waitFor(status("paint", "a.png"), "the paint step");
    const j = (await readJudgments(root, "alice")).get("a.png")!;
    assert.equal(j.label, "Synthetic");
    assert.ok(
      j.ms >= 300 && j.ms <= answered - opened,
      `response time ${j.ms} ms, not in [300, ${answered - opened}]`,
    );

    await paint(page, [[5, 10], [30, 10]]); // kept (row 10)
    await paint(page, [[5, 24], [30, 24]]); // undone (row 24)
    await page.key("z", 2);
    await page.key("y", 2);
    await page.key("z", 2);
    await page.key("e");
    await paint(page, [[20, 6], [20, 14]]); // erases columns 19..21 of the kept stroke
    await page.key("b");
    await page.key("Enter");
    await page.waitFor(
      `document.body.dataset.saved === "1" && ${status("judge", "b.png")}`,
      "next",
    );

    const file = join(root, "heatmaps/annotators/alice/a.png");
    const m = await grey(file);
    assert.deepEqual([m.width, m.height], [40, 30]);
    const px = (x: number, y: number) => m.data[y * 40 + x];
    for (let x = 7; x <= 16; x++) {
      for (const y of [9, 10, 11]) assert.equal(px(x, y), 255, `(${x},${y})`);
    }
    for (let x = 0; x < 40; x++) {
      assert.equal(px(x, 1), 0, `row 1 painted before the answer (${x})`);
      assert.equal(px(x, 24), 0, `undone stroke present at (${x},24)`);
    }
    for (const y of [9, 10, 11]) assert.equal(px(20, y), 0, `eraser missed (20,${y})`);
    let marked = 0;
    for (const v of m.data) if (v > 0) marked++;
    assert.ok(marked > 60 && marked < 200, `${marked} pixels marked`);

    // Reload: the page resumes at the next unannotated image; going back shows the saved map,
    // and saving it again round-trips it unchanged.
    await page.goto(`${server.url}/annotate/alice`);
    await page.waitFor(status("judge", "b.png"), "resume at b.png");
    assert.equal(await page.eval(`document.getElementById("progress").textContent`), "1 of 3");
    await page.key("ArrowLeft");
    await page.waitFor(status("paint", "a.png"), "a.png again, already judged");
    await page.key("Enter");
    await page.waitFor(status("judge", "b.png"), "back to b.png");
    assert.deepEqual((await grey(file)).data, m.data);
  } finally {
    await browser.close();
    await server.shutdown();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("page: two annotators at once, one zoomed in, each map in its own folder", async () => {
  const { root, csv } = await makeFixture();
  const server = await startAnnotateServer({ data: root, csv, port: 0 });
  const browser = await launchBrowser();
  try {
    const [alice, bob] = await Promise.all([
      browser.open(`${server.url}/annotate/alice`),
      browser.open(`${server.url}/annotate/bob`),
    ]);
    for (const p of [alice, bob]) await p.waitFor(status("judge", "a.png"), "the first image");
    await alice.key("r");
    await bob.key("s");
    for (const p of [alice, bob]) {
      await p.waitFor(status("paint"), "the paint step");
      await setBrush(p, 3);
    }
    const before = await bob.eval<number>(
      `document.getElementById("mask").getBoundingClientRect().width`,
    );
    await bob.key("-");
    const after = await bob.eval<number>(
      `document.getElementById("mask").getBoundingClientRect().width`,
    );
    assert.ok(after < before, `zoom out: ${before} -> ${after}`);
    await paint(alice, [[4, 15], [35, 15]]);
    await paint(bob, [[12, 2], [12, 27]]);
    await alice.key("Enter");
    await bob.key("Enter");
    for (const p of [alice, bob]) await p.waitFor(status("judge", "b.png"), "the next image");

    const a = await grey(join(root, "heatmaps/annotators/alice/a.png"));
    const b = await grey(join(root, "heatmaps/annotators/bob/a.png"));
    assert.equal(a.data[15 * 40 + 20], 255);
    assert.equal(a.data[5 * 40 + 12], 0);
    assert.equal(b.data[5 * 40 + 12], 255);
    assert.equal(b.data[15 * 40 + 30], 0);
    assert.equal((await readJudgments(root, "alice")).get("a.png")!.label, "Real");
    assert.equal((await readJudgments(root, "bob")).get("a.png")!.label, "Synthetic");
  } finally {
    await browser.close();
    await server.shutdown();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("page: shortcuts for size, clear, redo and zoom; the next image's response time", async () => {
  const { root, csv } = await makeFixture();
  const server = await startAnnotateServer({ data: root, csv, port: 0 });
  const browser = await launchBrowser();
  try {
    const page = await browser.open(`${server.url}/annotate/alice`);
    await page.waitFor(status("judge", "a.png"), "the first image");
    const size = () => page.eval<string>(`document.getElementById("size").value`);
    const width = () =>
      page.eval<number>(`document.getElementById("mask").getBoundingClientRect().width`);

    assert.equal(await size(), "12");
    await page.key("]");
    assert.equal(await size(), "15", "] enlarges the brush");
    await page.key("[");
    await page.key("[");
    assert.equal(await size(), "10", "[ shrinks the brush");

    // The fixture's images fit at the largest zoom (16×): out twice, in once, then fit.
    const fit = await width();
    await page.key("-");
    await page.key("-");
    const out = await width();
    await page.key("+");
    const zin = await width();
    assert.ok(Math.abs(zin - out * 1.25) <= 1, `+ zooms in by 1.25: ${out} -> ${zin}`);
    assert.ok(zin < fit, `${zin} < ${fit}`);
    await page.key("0");
    assert.equal(await width(), fit, "0 fits the image again");

    // a.png: a stroke, then C: the saved map is empty.
    await page.key("r");
    await page.waitFor(status("paint", "a.png"), "the paint step");
    await setBrush(page, 3);
    await paint(page, [[5, 10], [30, 10]]);
    await page.key("c");
    const saving = Date.now();
    await page.key("Enter");
    await page.waitFor(status("judge", "b.png"), "b.png");
    const a = await grey(join(root, "heatmaps/annotators/alice/a.png"));
    assert.ok(a.data.every((v) => v === 0), "C left pixels marked");

    // b.png's response time runs from b.png shown (after a.png's save) to the answer.
    await new Promise((r) => setTimeout(r, 350));
    await page.key("s");
    const answered = Date.now();
    await page.waitFor(status("paint", "b.png"), "the paint step");
    const ms = (await readJudgments(root, "alice")).get("b.png")!.ms;
    assert.ok(
      ms >= 300 && ms <= answered - saving,
      `b.png: ${ms} ms, not in [300, ${answered - saving}]`,
    );

    // b.png: strokes on rows 10 and 20, Ctrl+Z (row 20 gone), Ctrl+Shift+Z (back), C, Ctrl+Z
    // (both back).
    const marked = (y: number) =>
      page.eval<number>(`(() => {
        const m = document.getElementById("mask");
        const d = m.getContext("2d").getImageData(0, ${y}, m.width, 1).data;
        let n = 0; for (let p = 3; p < d.length; p += 4) if (d[p]) n++; return n; })()`);
    await paint(page, [[5, 10], [30, 10]]);
    await paint(page, [[5, 20], [30, 20]]);
    await page.key("z", 2);
    assert.equal(await marked(20), 0, "Ctrl+Z left the second stroke");
    await page.key("Z", 2 | 8);
    assert.ok((await marked(20)) > 0, "Ctrl+Shift+Z did not redo the second stroke");
    await page.key("c");
    assert.equal((await marked(10)) + (await marked(20)), 0, "C left pixels marked");
    await page.key("z", 2);
    await page.key("Enter");
    await page.waitFor(status("judge", "c.jpg"), "c.jpg");
    const b = await grey(join(root, "heatmaps/annotators/alice/b.png"));
    for (let x = 7; x <= 28; x++) {
      for (const y of [10, 20]) assert.equal(b.data[y * 40 + x], 255, `(${x},${y})`);
    }
  } finally {
    await browser.close();
    await server.shutdown();
    await Deno.remove(root, { recursive: true });
  }
});
