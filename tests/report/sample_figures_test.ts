import assert from "node:assert/strict";
import { listSamples, samplesBySource } from "../../lib/data/samples.ts";
import {
  mapOverlayFigure,
  sampleGridFigure,
  shorten,
  variantPairFigure,
} from "../../lib/report/sample_figures.ts";
import { tinyDataRoot } from "../_support/tiny_data.ts";

type Layout = { images: { source: string }[]; annotations: { text: string }[] };

Deno.test("sampleGridFigure: one row per source, captions cut, empty cells padded", async () => {
  const samples = await listSamples(await tinyDataRoot());
  const groups = samplesBySource(samples, 3, (s) => s.group === "train");
  const fig = await sampleGridFigure(groups, { title: "t" });
  const layout = fig.layout as unknown as Layout;
  const rows = groups.size;
  assert.equal(layout.images.length, rows * 3);
  assert.ok(layout.images.every((i) => i.source.startsWith("data:image/png;base64,")));
  assert.ok(layout.annotations.some((a) => a.text === "standard"));
  assert.ok(layout.annotations.every((a) => a.text.length <= 18));
  await assert.rejects(() => sampleGridFigure(new Map()), /no samples/);
  assert.equal(shorten("abcdef", 4), "abc…");
  assert.equal(shorten("abc", 4), "abc");
});

Deno.test("mapOverlayFigure: image, human map, mask per sample", async () => {
  const samples = (await listSamples(await tinyDataRoot())).filter((s) => s.group === "train");
  const fig = await mapOverlayFigure(samples.slice(0, 2));
  const layout = fig.layout as unknown as Layout;
  assert.equal(layout.images.length, 6);
  assert.deepEqual(layout.annotations.slice(1, 3).map((a) => a.text), ["human map", "mask"]);
  const test = (await listSamples(await tinyDataRoot())).filter((s) => s.group === "test");
  const noMap = (await mapOverlayFigure(test.slice(0, 1))).layout as unknown as Layout;
  assert.equal(noMap.annotations[1].text, "no human map");
});

Deno.test("variantPairFigure: identical roots give a black difference; size mismatch is named", async () => {
  const root = await tinyDataRoot();
  const samples = (await listSamples(root)).filter((s) => s.group === "train").slice(0, 1);
  const fig = await variantPairFigure(samples, root, ["a", "b"]);
  const layout = fig.layout as unknown as Layout;
  assert.equal(layout.images.length, 3);
  // The difference of an image with itself is all zeros: the PNG of a black 16×16 image.
  const { encodePng, rawImageDataUrl } = await import("../../lib/plots/images.ts");
  void encodePng;
  const black = await rawImageDataUrl({
    data: new Uint8Array(16 * 16 * 3),
    width: 16,
    height: 16,
    channels: 3,
  });
  assert.equal(layout.images[2].source, black);
  await assert.rejects(
    () => variantPairFigure(samples, "/nonexistent", ["a", "b"]),
    /\/nonexistent\/images\/.*cannot read image/,
  );
});
