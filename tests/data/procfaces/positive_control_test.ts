import assert from "node:assert/strict";
import { generate } from "../../../lib/data/procfaces/generate.ts";
import { PAPER_COUNTS, scaleCounts } from "../../../lib/data/procfaces/layout.ts";
import {
  applyFingerprint,
  derivePositiveControl,
  fingerprintWeights,
  markBox,
  POSITIVE_MARK,
  POSITIVE_SOFTEN,
  soften,
} from "../../../lib/data/procfaces/positive_control.ts";
import { applyShortcut, shortcutWeights } from "../../../lib/data/procfaces/shortcut.ts";
import { decodePng } from "../../../lib/data/procfaces/writer.ts";
import { readSplitCsv } from "../../../lib/data/csv.ts";

const SIZE = 32;
const out = await Deno.makeTempDir({ prefix: "cyborg-positive-" });
await generate({
  out,
  size: SIZE,
  counts: { ...scaleCounts(PAPER_COUNTS, 0.02), testPerSource: 6 },
  variant: "control",
  workers: 0,
});
const control = `${out}/procfaces-control`;

async function pixels(path: string): Promise<Uint8Array> {
  return (await decodePng(await Deno.readFile(path), 3)).pixels;
}
/** A control image as the derived folders start from it (artifacts attenuated). */
async function softened(path: string): Promise<Uint8Array> {
  return soften(await pixels(path), SIZE, POSITIVE_SOFTEN);
}
const equal = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((v, i) => v === b[i]);
const marked = (p: Uint8Array) => applyShortcut(p, SIZE, POSITIVE_MARK);

async function rowsOf(dir: string, csv: string) {
  return (await readSplitCsv(`${dir}/csvs/${csv}`)).map((r) => ({ ...r, file: `${dir}${r.path}` }));
}

Deno.test("positive control (mark): every training/validation fake marked, no real; T1 reversed, T2 clean, T3 mixed", async () => {
  const r = await derivePositiveControl({ control, mode: "mark" });
  assert.equal(r.dir, `${out}/procfaces-positive`);
  assert.equal(r.upToDate, false);
  const src = await rowsOf(control, "original.csv");
  const dst = await rowsOf(r.dir, "original.csv");
  assert.deepEqual(
    dst.map((x) => [x.split, x.label, x.path]),
    src.map((x) => [x.split, x.label, x.path]),
  );
  for (const [i, d] of dst.entries()) {
    const base = await softened(src[i].file);
    assert.ok(equal(await pixels(d.file), d.label === 1 ? marked(base) : base), d.path);
  }
  // Maps and masks of the training rows, byte for byte; no 7x set.
  for (const d of dst.filter((x) => x.split === "train")) {
    const b = d.path.slice(d.path.lastIndexOf("/") + 1);
    for (const sub of ["heatmaps", "masks"]) {
      assert.ok(
        equal(
          await Deno.readFile(`${r.dir}/${sub}/${b}`),
          await Deno.readFile(`${control}/${sub}/${b}`),
        ),
      );
    }
  }
  await assert.rejects(Deno.stat(`${r.dir}/csvs/large_dataset_7x.csv`), Deno.errors.NotFound);
  const reals = await rowsOf(control, "test_sets/real_same.csv");
  const fakes = await rowsOf(control, "test_sets/seen_generators.csv");
  let t3Marked = 0;
  for (const t of ["t1", "t2", "t3"]) {
    for (const [kind, srcRows] of [["real", reals], ["fake", fakes]] as const) {
      const rows = await rowsOf(r.dir, `test_sets/${t}_${kind}.csv`);
      assert.equal(rows.length, srcRows.length);
      for (const [i, d] of rows.entries()) {
        assert.equal(d.label, kind === "real" ? 0 : 1);
        const base = await softened(srcRows[i].file);
        const got = await pixels(d.file);
        if (t === "t1") assert.ok(equal(got, kind === "real" ? marked(base) : base), d.path);
        if (t === "t2") assert.ok(equal(got, base), d.path);
        if (t === "t3") {
          assert.ok(equal(got, base) || equal(got, marked(base)), d.path);
          if (!equal(got, base)) t3Marked++;
        }
      }
    }
  }
  assert.ok(t3Marked > 0 && t3Marked < 12, `T3 marked ${t3Marked} of 12`);
  assert.equal(r.images, dst.length + 6 * 6);
  // Idempotent; another T3 seed rebuilds.
  assert.equal((await derivePositiveControl({ control, mode: "mark" })).upToDate, true);
  assert.equal((await derivePositiveControl({ control, mode: "mark", seed: 2 })).upToDate, false);
});

Deno.test("positive control (nomark, masked): the calibration folders", async () => {
  const nomark = await derivePositiveControl({ control, mode: "nomark" });
  for (const d of await rowsOf(nomark.dir, "original.csv")) {
    assert.ok(equal(await pixels(d.file), await softened(`${control}${d.path}`)), d.path);
  }
  const t1 = await rowsOf(nomark.dir, "test_sets/t1_real.csv");
  const src = await rowsOf(control, "test_sets/real_same.csv");
  assert.ok(equal(await pixels(t1[0].file), marked(await softened(src[0].file))));

  const masked = await derivePositiveControl({ control, mode: "masked" });
  const lo = markBox(SIZE);
  // The box holds the whole mark.
  const w = shortcutWeights(SIZE, POSITIVE_MARK);
  for (let i = 0; i < w.length; i++) {
    if (w[i] > 0) {
      assert.ok(i % SIZE >= lo && Math.floor(i / SIZE) >= lo, `mark pixel ${i} outside the box`);
    }
  }
  for (const csv of ["original.csv", "test_sets/t1_real.csv", "test_sets/t3_fake.csv"]) {
    for (const d of await rowsOf(masked.dir, csv)) {
      const got = await pixels(d.file);
      const ref = await pixels(`${out}/procfaces-positive${d.path}`);
      for (let y = 0; y < SIZE; y++) {
        for (let x = 0; x < SIZE; x++) {
          const i = 3 * (y * SIZE + x);
          const inBox = x >= lo && y >= lo;
          for (let c = 0; c < 3; c++) {
            assert.equal(got[i + c], inBox ? 0 : ref[i + c], `${d.path} (${x}, ${y})`);
          }
        }
      }
    }
  }
});

Deno.test("paper-like (paper, paper-twin): seen fingerprint on training fakes, shifted validation, swapped fingerprint in T1", async () => {
  const fp = (p: Uint8Array, k: "ring" | "bar" | "disc") => applyFingerprint(p, SIZE, k);
  const paper = await derivePositiveControl({ control, mode: "paper" });
  const twin = await derivePositiveControl({ control, mode: "paper-twin" });
  assert.equal(paper.dir, `${out}/procfaces-paperlike`);
  const src = await rowsOf(control, "original.csv");
  const shifted = await rowsOf(control, "test_sets/real_shifted.csv");
  let nextShifted = 0;
  const dst = await rowsOf(paper.dir, "original.csv");
  const dstTwin = await rowsOf(twin.dir, "original.csv");
  assert.equal(dst.length, src.length);
  for (const [i, d] of dst.entries()) {
    const s = src[i];
    assert.deepEqual([d.split, d.label], [s.split, s.label]);
    assert.equal(dstTwin[i].path, d.path);
    const fromShifted = s.split === "test" && s.label === 0;
    // Validation reals: the shifted capture's, in order.
    const from = fromShifted ? shifted[nextShifted++] : s;
    assert.equal(d.path, from.path);
    const base = await softened(from.file);
    const kind = s.label === 0 ? null : s.split === "train" ? "ring" : "bar";
    assert.ok(equal(await pixels(d.file), kind ? fp(base, kind) : base), d.path);
    assert.ok(equal(await pixels(dstTwin[i].file), base), `twin ${d.path}`);
  }
  assert.ok(nextShifted > 0);
  const reals = await rowsOf(control, "test_sets/real_same.csv");
  const fakes = await rowsOf(control, "test_sets/seen_generators.csv");
  const want = { t1: "disc", t2: null, t3: "ring" } as const;
  for (const t of ["t1", "t2", "t3"] as const) {
    for (const [kind, srcRows] of [["real", reals], ["fake", fakes]] as const) {
      const rows = await rowsOf(paper.dir, `test_sets/${t}_${kind}.csv`);
      const rowsTwin = await rowsOf(twin.dir, `test_sets/${t}_${kind}.csv`);
      for (const [i, d] of rows.entries()) {
        const base = await softened(srcRows[i].file);
        const k = kind === "fake" ? want[t] : null;
        const got = await pixels(d.file);
        assert.ok(equal(got, k ? fp(base, k) : base), d.path);
        assert.ok(equal(await pixels(rowsTwin[i].file), got), `twin ${d.path}`);
      }
    }
  }
});

Deno.test("fingerprints: the three patterns lie in the mark's box, differ, and darken or brighten", () => {
  const lo = markBox(SIZE);
  const grey = new Uint8Array(SIZE * SIZE * 3).fill(128);
  const sums: number[] = [];
  for (const k of ["ring", "bar", "disc"] as const) {
    const w = fingerprintWeights(SIZE, k);
    let n = 0;
    for (let i = 0; i < w.length; i++) {
      if (w[i] > 0) {
        n++;
        assert.ok(i % SIZE >= lo && Math.floor(i / SIZE) >= lo, `${k}: pixel ${i} outside the box`);
      }
    }
    assert.ok(n >= 6, `${k}: ${n} pixels`);
    const img = applyFingerprint(grey, SIZE, k);
    const delta = img.reduce((a, v) => a + v - 128, 0);
    assert.ok(k === "ring" ? delta > 0 : delta < 0, `${k}: total change ${delta}`);
    sums.push(w.reduce((a, v) => a + v, 0));
  }
  assert.equal(new Set(sums).size, 3);
});

Deno.test("positive control: a missing or wrong source folder is a clear error", async () => {
  await assert.rejects(
    derivePositiveControl({ control: `${out}/nothing`, mode: "mark" }),
    /nothing\/COMPLETE.json is missing \(generate the control variant first: deno task data\)/,
  );
  await assert.rejects(
    derivePositiveControl({ control: `${out}/procfaces-positive`, mode: "mark" }),
    /is not a complete control variant/,
  );
  await assert.rejects(
    derivePositiveControl({ control, mode: "both" as "mark" }),
    /mode must be one of mark, nomark, masked, paper, paper-twin, got "both"/,
  );
});

Deno.test("soften: a period-2 pattern keeps 1 − s of its amplitude, a period-4 one 1 − s/2", () => {
  const n = 16;
  const img = (period: number) => {
    const a = new Uint8Array(n * n * 3);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        a.fill(Math.floor(x / (period / 2)) % 2 ? 140 : 100, 3 * (y * n + x), 3 * (y * n + x) + 3);
      }
    }
    return a;
  };
  // Amplitude in the middle row, away from the clamped edges.
  const amp = (a: Uint8Array) => {
    const row = Array.from({ length: n - 4 }, (_, i) => a[3 * (8 * n + i + 2)]);
    return (Math.max(...row) - Math.min(...row)) / 2;
  };
  assert.equal(amp(img(2)), 20);
  assert.equal(amp(soften(img(2), n, 0.5)), 10);
  assert.equal(amp(soften(img(4), n, 0.5)), 15);
  assert.ok(equal(soften(img(2), n, 0), img(2)));
  assert.throws(() => soften(img(2), n, 1.5), /soften=1.5 must be in \[0, 1\]/);
});

Deno.test("positive control (heavy): a label-independent share of the images has its artifacts erased", async () => {
  const heavy = { fraction: 0.5, passes: 3 };
  const dir = await Deno.makeTempDir({ prefix: "cyborg-heavy-" });
  const r = await derivePositiveControl({ control, mode: "nomark", out: dir, heavy });
  const erase = (p: Uint8Array) => {
    for (let k = 0; k < heavy.passes; k++) p = soften(p, SIZE, 1);
    return p;
  };
  const count = { 0: [0, 0], 1: [0, 0] } as Record<number, [number, number]>;
  const rows = await rowsOf(r.dir, "original.csv");
  for (const d of rows) {
    const got = await pixels(d.file);
    if (d.path.startsWith("/images/test/")) continue;
    const src = await pixels(`${control}${d.path}`);
    const isHeavy = equal(got, erase(src));
    assert.ok(isHeavy || equal(got, soften(src, SIZE, POSITIVE_SOFTEN)), d.path);
    count[d.label][isHeavy ? 1 : 0]++;
  }
  for (const label of [0, 1]) {
    const [light, hv] = count[label];
    const share = hv / (light + hv);
    assert.ok(
      share > 0.25 && share < 0.75,
      `label ${label}: heavy share ${share} of ${light + hv}`,
    );
  }
  // Test twins agree: t1_real (marked) and t2_real of the same source are both heavy or both not.
  const t1 = await rowsOf(r.dir, "test_sets/t1_real.csv");
  const t2 = await rowsOf(r.dir, "test_sets/t2_real.csv");
  const src = await rowsOf(control, "test_sets/real_same.csv");
  for (let i = 0; i < src.length; i++) {
    const s = await pixels(src[i].file);
    const h = equal(await pixels(t2[i].file), erase(s));
    assert.ok(
      equal(await pixels(t1[i].file), marked(h ? erase(s) : soften(s, SIZE, POSITIVE_SOFTEN))),
    );
  }
  const marker = JSON.parse(await Deno.readTextFile(`${r.dir}/COMPLETE.json`));
  assert.deepEqual(marker.heavy, heavy);
  assert.equal(
    (await derivePositiveControl({ control, mode: "nomark", out: dir, heavy })).upToDate,
    true,
  );
  assert.equal(
    (await derivePositiveControl({ control, mode: "nomark", out: dir })).upToDate,
    false,
  );
  await assert.rejects(
    derivePositiveControl({ control, mode: "nomark", out: dir, heavy: { fraction: 2, passes: 1 } }),
    /heavy fraction 2 must be in \[0, 1\]/,
  );
  await assert.rejects(
    derivePositiveControl({
      control,
      mode: "nomark",
      out: dir,
      heavy: { fraction: 0.5, passes: 0 },
    }),
    /passes 0 an integer >= 1/,
  );
  await Deno.remove(dir, { recursive: true });
});
