import assert from "node:assert/strict";
import { exists } from "../../../lib/run_dir.ts";
import {
  generate,
  type GenerateOptions,
  VARIANT_DIRS,
} from "../../../lib/data/procfaces/generate.ts";
import { type Counts, PAPER_COUNTS, scaleCounts } from "../../../lib/data/procfaces/layout.ts";
import { DEFAULT_SHORTCUT, shortcutScore } from "../../../lib/data/procfaces/shortcut.ts";
import { COMPLETE_MARKER, decodePng } from "../../../lib/data/procfaces/writer.ts";

const COUNTS: Counts = {
  trainReal: 8,
  trainFake: 8,
  valReal: 3,
  valFake: 3,
  largeReal: 12,
  largeFake: 12,
  testPerSource: 3,
};
const SIZE = 24;

function opts(out: string, extra: Partial<GenerateOptions> = {}): GenerateOptions {
  return { seed: 3, size: SIZE, out, counts: COUNTS, workers: 0, ...extra };
}

/** Every file under `root` (relative path → bytes). */
async function tree(root: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  const walk = async (dir: string, rel: string) => {
    for await (const e of Deno.readDir(dir)) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(`${dir}/${e.name}`, r);
      else out.set(r, await Deno.readFile(`${dir}/${e.name}`));
    }
  };
  await walk(root, "");
  return out;
}

async function mtimes(root: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const p of (await tree(root)).keys()) {
    out.set(p, (await Deno.stat(`${root}/${p}`)).mtime!.getTime());
  }
  return out;
}

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "procfaces_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function csvRows(text: string): string[][] {
  return text.trim().split("\n").map((l) => l.split(","));
}

Deno.test("generate: deterministic (same seed, any worker count → same bytes), seed matters", async () => {
  await withTmp(async (dir) => {
    await generate(opts(`${dir}/a`));
    await generate(opts(`${dir}/b`, { workers: 2, chunk: 5 }));
    await generate(opts(`${dir}/c`, { seed: 4, variant: "shortcut" }));
    for (const v of Object.values(VARIANT_DIRS)) {
      const a = await tree(`${dir}/a/${v}`), b = await tree(`${dir}/b/${v}`);
      assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
      for (const [k, bytes] of a) assert.deepEqual(bytes, b.get(k), k);
    }
    const a = await tree(`${dir}/a/procfaces`), c = await tree(`${dir}/c/procfaces`);
    const png = [...a.keys()].filter((k) => k.startsWith("images/"));
    assert.ok(png.every((k) => c.has(k)));
    assert.ok(
      png.filter((k) => !bytesEqual(a.get(k)!, c.get(k)!)).length > png.length * 0.9,
      "seed must change images",
    );
    assert.equal(
      await exists(`${dir}/c/procfaces-control`),
      false,
      "--variant shortcut writes one folder",
    );
  });
});

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

Deno.test("generate: idempotent (reruns write nothing, no mtime changes; tampering is repaired)", async () => {
  await withTmp(async (dir) => {
    const allMtimes = async () =>
      new Map(
        [...await mtimes(`${dir}/procfaces`)].concat(
          [...await mtimes(`${dir}/procfaces-control`)].map(([k, v]) => [`c/${k}`, v]),
        ),
      );
    const first = await generate(opts(dir));
    assert.ok(first.variants.every((v) => v.stats.written > 0 && !v.upToDate));
    const before = await allMtimes();
    await new Promise((r) => setTimeout(r, 20));
    // Verified fast path: marker matches, every file hashes to the recorded digest.
    const second = await generate(opts(dir));
    assert.ok(second.variants.every((v) => v.upToDate && v.stats.written === 0));
    assert.deepEqual(await allMtimes(), before);
    // Forced full path: everything re-rendered and compared, nothing rewritten.
    const third = await generate(opts(dir, { force: true, workers: 1 }));
    for (const v of third.variants) {
      assert.equal(v.upToDate, false);
      assert.deepEqual(v.stats, { written: 0, unchanged: v.stats.unchanged, removed: 0 });
    }
    assert.deepEqual(await allMtimes(), before);
    assert.equal(await exists(`${dir}/.procfaces.tmp`), false);
    // A marker from another generator version: full compare, only the marker is rewritten.
    const markerPath = `${dir}/procfaces-control/${COMPLETE_MARKER}`;
    const marker = JSON.parse(await Deno.readTextFile(markerPath));
    await Deno.writeTextFile(markerPath, JSON.stringify({ ...marker, generator: "old" }));
    const redo = await generate(opts(dir, { variant: "control" }));
    assert.deepEqual(redo.variants[0].stats.written, 1);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(markerPath)), marker);
    assert.equal(await exists(`${dir}/procfaces-control/csvs/original.csv`), true);
    before.set(`c/${COMPLETE_MARKER}`, (await Deno.stat(markerPath)).mtime!.getTime());
    assert.deepEqual(await allMtimes(), before);
    // Tampering (a changed image, an extra file) fails verification and is repaired.
    const img = `${dir}/procfaces/images/train/train_fake_00001.png`;
    const original = await Deno.readFile(img);
    await Deno.writeFile(img, original.slice(0, 50));
    await Deno.writeFile(`${dir}/procfaces/images/train/extra.png`, original);
    const fourth = await generate(opts(dir));
    const sc = fourth.variants.find((v) => v.variant === "shortcut")!;
    const ctl = fourth.variants.find((v) => v.variant === "control")!;
    assert.equal(ctl.upToDate, true);
    assert.equal(sc.upToDate, false);
    assert.equal(sc.stats.removed, 1);
    assert.ok(bytesEqual(await Deno.readFile(img), original));
    assert.equal(await exists(`${dir}/procfaces/images/train/extra.png`), false);
    assert.equal(await exists(`${dir}/procfaces/${COMPLETE_MARKER}`), true);
    const after = await allMtimes();
    const touched = [...after].filter(([k, t]) => before.get(k) !== t).map(([k]) => k).sort();
    // Only the repaired image and the entry points (dropped before the repair) were rewritten.
    assert.deepEqual(touched.filter((k) => k.startsWith("images/") || k.startsWith("c/")), [
      "images/train/train_fake_00001.png",
    ]);
  });
});

Deno.test("generate: layout, CSVs, heatmaps and masks", async () => {
  await withTmp(async (dir) => {
    await generate(opts(dir));
    for (const v of Object.values(VARIANT_DIRS)) {
      const root = `${dir}/${v}`;
      const files = await tree(root);
      const dec = new TextDecoder();
      const orig = csvRows(dec.decode(files.get("csvs/original.csv")!));
      const large = csvRows(dec.decode(files.get("csvs/large_dataset_7x.csv")!));
      const line = /^(train|test),(Real|Synthetic),\/images\/[a-z0-9_/]+\.png$/;
      const allRows: string[][] = [];
      for (const [k, bytes] of files) {
        if (!k.startsWith("csvs/")) continue;
        for (const l of dec.decode(bytes).trim().split("\n")) {
          assert.match(l, line, `${k}: ${l}`);
          allRows.push(l.split(","));
        }
        if (k.startsWith("csvs/test_sets/")) {
          assert.ok(csvRows(dec.decode(bytes)).every((r) => r[0] === "test"));
        }
      }
      const count = (rows: string[][], s: string, l: string) =>
        rows.filter((r) => r[0] === s && r[1] === l).length;
      assert.equal(count(orig, "train", "Real"), 8);
      assert.equal(count(orig, "train", "Synthetic"), 8);
      assert.equal(count(orig, "test", "Real") + count(orig, "test", "Synthetic"), 6);
      assert.equal(count(large, "train", "Real") + count(large, "train", "Synthetic"), 24);
      const meta = [...files.keys()].filter((k) => !/^(masks|heatmaps|images)\//.test(k)).sort();
      const testSets = [
        "real_same",
        "real_shifted",
        "seen_generators",
        "unseen_blotch",
        "unseen_dots",
      ]
        .concat(["unseen_smear", "unseen_teeth"]).map((n) => `csvs/test_sets/${n}.csv`);
      assert.deepEqual(meta, [
        COMPLETE_MARKER,
        "README.md",
        "csvs/large_dataset_7x.csv",
        "csvs/original.csv",
        ...testSets,
        "manifest.csv",
      ]);
      const base = (p: string) => p.slice(p.lastIndexOf("/") + 1);
      const images = new Set(allRows.map((r) => r[2].slice(1)));
      const bases = new Set([...images].map(base));
      assert.equal(bases.size, images.size, "base names unique across the dataset");
      for (const p of images) {
        assert.ok(files.has(p), `missing ${p}`);
        assert.ok(files.has(`masks/${base(p)}`), `missing mask of ${p}`);
      }
      // Heatmap for every original.csv training row (same base name), and only those.
      const withMaps = orig.filter((r) => r[0] === "train").map((r) => base(r[2]));
      assert.deepEqual(
        [...files.keys()].filter((k) => k.startsWith("heatmaps/")).map(base).sort(),
        withMaps.sort(),
      );
      for (const b of withMaps.slice(0, 6)) {
        const hm = await decodePng(files.get(`heatmaps/${b}`)!, 1);
        assert.equal(hm.size, SIZE);
        assert.equal(files.get(`heatmaps/${b}`)![25], 0, "heatmap is 8-bit grayscale");
        assert.ok(Math.max(...hm.pixels) > 30, `heatmap ${b} is empty`);
        const img = await decodePng(files.get(`images/train/${b}`)!, 3);
        assert.equal(img.size, SIZE);
      }
      const mask = await decodePng(files.get(`masks/${withMaps[0]}`)!, 1);
      const on = mask.pixels.filter((p) => p > 128).length;
      assert.ok(on > SIZE * SIZE * 0.1 && on < SIZE * SIZE * 0.8, `mask covers ${on} px`);
      const marker = JSON.parse(dec.decode(files.get(COMPLETE_MARKER)!));
      assert.equal(marker.variant, v === "procfaces" ? "shortcut" : "control");
      assert.match(dec.decode(files.get("README.md")!), /What it can and cannot show/);
    }
  });
});

Deno.test("generate: shortcut on/off changes the intended statistics only", async () => {
  await withTmp(async (dir) => {
    const counts = {
      ...COUNTS,
      trainReal: 30,
      trainFake: 30,
      largeReal: 30,
      largeFake: 30,
      valReal: 10,
      valFake: 10,
      testPerSource: 10,
    };
    await generate({ ...opts(dir), size: 48, counts });
    const dec = new TextDecoder();
    const manifest = csvRows(dec.decode(await Deno.readFile(`${dir}/procfaces/manifest.csv`)))
      .slice(1);
    const byGroup = (group: string, label: string) =>
      manifest.filter((r) => r[3] === group && r[1] === label);
    const score = async (v: string, r: string[]) => {
      const folder = r[3] === "test"
        ? `test/${r[0].replace(/_\d+$/, "")}`
        : r[3] === "val"
        ? "val"
        : "train";
      const { pixels } = await decodePng(
        await Deno.readFile(`${dir}/${v}/images/${folder}/${r[0]}.png`),
        3,
      );
      return shortcutScore(pixels, 48);
    };
    const mean = async (v: string, rows: string[][]) => {
      let s = 0;
      for (const r of rows) s += await score(v, r);
      return s / rows.length;
    };
    for (const group of ["train", "val"]) {
      const fakeS = await mean("procfaces", byGroup(group, "Synthetic"));
      const realS = await mean("procfaces", byGroup(group, "Real"));
      // Thresholds scale with the mark's strength (the control's gap is content noise only).
      const amp = DEFAULT_SHORTCUT.amplitude;
      assert.ok(fakeS - realS > 0.4 * amp, `${group}: shortcut gap ${fakeS - realS}`);
      const fakeC = await mean("procfaces-control", byGroup(group, "Synthetic"));
      const realC = await mean("procfaces-control", byGroup(group, "Real"));
      assert.ok(Math.abs(fakeC - realC) < 0.1 * amp, `${group}: control gap ${fakeC - realC}`);
    }
    // Manifest flags agree with pixels: flagged images differ from the control only in the
    // corner; all other images (all test images among them) are byte-identical in both variants.
    for (const r of manifest) {
      const folder = r[3] === "test"
        ? `test/${r[0].replace(/_\d+$/, "")}`
        : r[3] === "val"
        ? "val"
        : "train";
      const a = await Deno.readFile(`${dir}/procfaces/images/${folder}/${r[0]}.png`);
      const b = await Deno.readFile(`${dir}/procfaces-control/images/${folder}/${r[0]}.png`);
      if (r[3] === "test") assert.equal(r[5], "0", r[0]);
      if (r[5] === "0") {
        assert.ok(bytesEqual(a, b), r[0]);
        continue;
      }
      const pa = (await decodePng(a, 3)).pixels, pb = (await decodePng(b, 3)).pixels;
      let changed = 0;
      for (let i = 0; i < pa.length; i++) {
        if (pa[i] === pb[i]) continue;
        changed++;
        const px = Math.floor(i / 3);
        assert.ok(px % 48 >= 36 && Math.floor(px / 48) >= 36, `${r[0]}: change outside the corner`);
      }
      assert.ok(changed > 0, `${r[0]} flagged but unchanged`);
    }
    const flagged = (label: string) =>
      manifest.filter((r) => r[3] !== "test" && r[1] === label && r[5] === "1").length /
      manifest.filter((r) => r[3] !== "test" && r[1] === label).length;
    assert.ok(flagged("Synthetic") > 0.75 && flagged("Real") < 0.25);
  });
});

Deno.test("generate: an interrupted run leaves nothing half-written and the rerun completes it", async () => {
  await withTmp(async (dir) => {
    await generate(opts(`${dir}/ref`));
    // A complete dataset with another seed, then a run (seed 3) interrupted midway.
    await generate(opts(dir, { seed: 9 }));
    await assert.rejects(
      () =>
        generate(opts(dir, {
          beforeWrite: (n) => {
            if (n >= 40) throw new Error("simulated crash");
          },
        })),
      /simulated crash/,
    );
    for (const v of Object.values(VARIANT_DIRS)) {
      const root = `${dir}/${v}`;
      assert.equal(
        await exists(`${root}/${COMPLETE_MARKER}`),
        false,
        "marker removed before the first change",
      );
      assert.equal(
        await exists(`${root}/csvs`),
        false,
        "entry points removed before the first change",
      );
      for (const [k, bytes] of await tree(root)) {
        assert.ok(k.endsWith(".png"), `unexpected ${k}`);
        await decodePng(bytes, k.startsWith("images/") ? 3 : 1); // every file is whole
      }
    }
    await generate(opts(dir));
    for (const v of Object.values(VARIANT_DIRS)) {
      const a = await tree(`${dir}/${v}`), b = await tree(`${dir}/ref/${v}`);
      assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
      for (const [k, bytes] of a) assert.ok(bytesEqual(bytes, b.get(k)!), k);
    }
    assert.equal(await exists(`${dir}/.procfaces.tmp`), false);
  });
});

Deno.test("generate: a killed process leaves only whole files; rerun completes", async () => {
  await withTmp(async (dir) => {
    const cmd = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../../tools/make_data.ts", import.meta.url).pathname,
        "--out",
        dir,
        "--scale",
        "0.02",
        "--size",
        "24",
        "--workers",
        "1",
      ],
      stdout: "null",
      stderr: "null",
    });
    const child = cmd.spawn();
    // Kill as soon as some images exist.
    for (let i = 0; i < 400; i++) {
      await new Promise((r) => setTimeout(r, 25));
      if (await exists(`${dir}/procfaces/images/train`)) break;
    }
    child.kill("SIGKILL");
    await child.status;
    for (const v of Object.values(VARIANT_DIRS)) {
      if (!(await exists(`${dir}/${v}`))) continue;
      const complete = await exists(`${dir}/${v}/${COMPLETE_MARKER}`);
      for (const [k, bytes] of await tree(`${dir}/${v}`)) {
        if (!complete) assert.ok(!k.startsWith("csvs/"), `CSV ${k} without completion marker`);
        if (k.endsWith(".png")) await decodePng(bytes, k.startsWith("images/") ? 3 : 1);
        else assert.ok(complete, `unexpected ${k}`);
      }
    }
    const rerun = await generate({
      seed: 1,
      size: 24,
      out: dir,
      counts: scaleCounts(PAPER_COUNTS, 0.02),
      workers: 0,
    });
    assert.ok(rerun.variants.every((v) => v.stats.unchanged > 0 || v.stats.written > 0));
    for (const v of Object.values(VARIANT_DIRS)) {
      assert.equal(await exists(`${dir}/${v}/${COMPLETE_MARKER}`), true);
    }
    assert.equal(await exists(`${dir}/.procfaces.tmp`), false);
  });
});
