/**
 * The annotation API over HTTP (no browser): saving maps and judgments, resuming after a restart,
 * two annotators at once, and every refused request leaving the data root untouched.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { decodeImage } from "../../lib/data/image.ts";
import { startAnnotateServer } from "../../lib/annotate/server.ts";
import { readJudgments } from "../../lib/annotate/store.ts";
import { greyPng, makeFixture, treeSnapshot } from "./_fixture.ts";

async function withServer(
  fn: (url: string, root: string) => Promise<void>,
  opts: { maxBodyBytes?: number } = {},
): Promise<void> {
  const { root, csv } = await makeFixture();
  const server = await startAnnotateServer({ data: root, csv, port: 0, ...opts });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    await fn(server.url, root);
  } finally {
    await server.shutdown();
    await Deno.remove(root, { recursive: true });
  }
}

async function req(url: string, init?: RequestInit): Promise<{ status: number; body: string }> {
  const r = await fetch(url, init);
  return { status: r.status, body: await r.text() };
}

Deno.test("a saved map is an 8-bit grey PNG at the image's size; judgments and status round-trip", async () => {
  await withServer(async (url, root) => {
    const items = JSON.parse((await req(`${url}/api/items?annotator=alice`)).body);
    assert.deepEqual(items.items.map((i: { name: string }) => i.name), ["a.png", "b.png", "c.jpg"]);
    assert.equal(items.done, 0);
    assert.equal(items.total, 3);
    assert.ok(!("label" in items.items[0]), "the CSV label must not be shown to annotators");

    const img = await fetch(`${url}/api/items/c.jpg/image`);
    assert.equal(img.headers.get("content-type"), "image/jpeg");
    assert.deepEqual(
      new Uint8Array(await img.arrayBuffer()),
      await Deno.readFile(join(root, "images/fake/c.jpg")),
    );

    // An RGBA PNG (what a canvas exports) is stored as its grey levels.
    const w = 40, h = 30;
    const rgba = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) {
      rgba.fill(i % 7 === 0 ? 200 : 0, i * 4, i * 4 + 3), rgba[i * 4 + 3] = 255;
    }
    const body = new Uint8Array(
      await sharp(rgba, { raw: { width: w, height: h, channels: 4 } }).png().toBuffer(),
    );
    const put = await req(`${url}/api/maps/alice/a.png`, { method: "PUT", body });
    assert.equal(put.status, 200, put.body);
    const saved = join(root, "heatmaps/annotators/alice/a.png");
    const meta = await sharp(saved).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels, meta.depth], [w, h, 1, "uchar"]);
    const grey = await decodeImage(saved, "L");
    for (let i = 0; i < w * h; i++) assert.equal(grey.data[i], i % 7 === 0 ? 200 : 0);

    // A JPEG item's map gets ".png" appended.
    const cput = await req(`${url}/api/maps/alice/c.jpg`, {
      method: "PUT",
      body: await greyPng(32, 32, (x) => (x < 16 ? 255 : 0)),
    });
    assert.equal(cput.status, 200, cput.body);
    assert.ok((await Deno.stat(join(root, "heatmaps/annotators/alice/c.jpg.png"))).isFile);

    for (const [label, ms] of [["Synthetic", 1200], ["Real", 845.6]] as const) {
      const r = await req(`${url}/api/judgments/alice/a.png`, {
        method: "POST",
        body: JSON.stringify({ label, ms }),
      });
      assert.equal(r.status, 200, r.body);
    }
    const j = await readJudgments(root, "alice");
    assert.equal(j.size, 1);
    assert.equal(j.get("a.png")!.label, "Real");
    assert.equal(j.get("a.png")!.ms, 846);

    const after = JSON.parse((await req(`${url}/api/items?annotator=alice`)).body);
    assert.equal(after.done, 2);
    assert.deepEqual(after.items.map((i: { mapped: boolean }) => i.mapped), [true, false, true]);
    assert.equal(after.items[0].judgment, "Real");
    const back = await fetch(`${url}/api/maps/alice/a.png`);
    assert.deepEqual(new Uint8Array(await back.arrayBuffer()), await Deno.readFile(saved));
  });
});

Deno.test("a restarted server resumes where the annotator stopped", async () => {
  const { root, csv } = await makeFixture();
  try {
    let s = await startAnnotateServer({ data: root, csv, port: 0 });
    try {
      const r = await fetch(`${s.url}/api/maps/bob/b.png`, {
        method: "PUT",
        body: await greyPng(40, 30, () => 255),
      });
      assert.equal(r.status, 200);
    } finally {
      await s.shutdown();
    }
    s = await startAnnotateServer({ data: root, csv, port: 0 });
    try {
      const j = await (await fetch(`${s.url}/api/items?annotator=bob`)).json();
      assert.equal(j.done, 1);
      assert.deepEqual(j.items.map((i: { mapped: boolean }) => i.mapped), [false, true, false]);
    } finally {
      await s.shutdown();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("two annotators at once: separate folders, no judgment lost under concurrency", async () => {
  await withServer(async (url, root) => {
    const names = ["a.png", "b.png", "c.jpg"];
    const sizes: Record<string, [number, number]> = {
      "a.png": [40, 30],
      "b.png": [40, 30],
      "c.jpg": [32, 32],
    };
    const jobs: Promise<Response>[] = [];
    for (const [k, who] of ["alice", "bob"].entries()) {
      for (const n of names) {
        const [w, h] = sizes[n];
        jobs.push(
          greyPng(w, h, (x) => (x % 2 === k ? 255 : 0)).then((body) =>
            fetch(`${url}/api/maps/${who}/${n}`, { method: "PUT", body })
          ),
        );
        jobs.push(fetch(`${url}/api/judgments/${who}/${encodeURIComponent(n)}`, {
          method: "POST",
          body: JSON.stringify({ label: k ? "Synthetic" : "Real", ms: 100 + k }),
        }));
      }
    }
    for (const r of await Promise.all(jobs)) {
      assert.equal(r.status, 200, await r.text());
    }
    for (const [k, who] of ["alice", "bob"].entries()) {
      const j = await readJudgments(root, who);
      assert.deepEqual([...j.keys()].sort(), [...names].sort(), `${who}'s judgments`);
      for (const n of names) {
        const file = join(root, "heatmaps/annotators", who, n.endsWith(".png") ? n : `${n}.png`);
        const m = await decodeImage(file, "L");
        assert.equal(m.data[0], k === 0 ? 255 : 0, `${who}/${n} pixel 0`);
        assert.equal(m.data[1], k === 0 ? 0 : 255, `${who}/${n} pixel 1`);
      }
    }
  });
});

Deno.test("bad requests are refused and write nothing", async () => {
  await withServer(async (url, root) => {
    const before = await treeSnapshot(root);
    const png = await greyPng(40, 30, () => 255);
    const jpeg = new Uint8Array(
      await sharp(await greyPng(40, 30, () => 9)).jpeg().toBuffer(),
    );
    const fakePng = new Uint8Array(64);
    fakePng.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const huge = new Uint8Array(17 * 1024 * 1024);
    huge.set(png);
    const chunked = () =>
      new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < 17; i++) c.enqueue(new Uint8Array(1024 * 1024));
          c.close();
        },
      });
    const cases: [string, string, RequestInit | undefined, number][] = [
      [
        "traversal in the item",
        "/api/maps/alice/..%2F..%2Fevil.png",
        { method: "PUT", body: png },
        404,
      ],
      ["dot-dot item", "/api/maps/alice/%2E%2E", { method: "PUT", body: png }, 404],
      ["traversal in the annotator", "/api/maps/..%2Fx/a.png", { method: "PUT", body: png }, 400],
      ["traversal to the CSV", "/api/items/..%2F..%2Fcsvs%2Foriginal.csv/image", undefined, 404],
      ["item that is a folder path", "/api/items/images%2Freal%2Fa.png/image", undefined, 404],
      ["unknown item", "/api/maps/alice/zzz.png", { method: "PUT", body: png }, 404],
      ["test-split item", "/api/items/t.png/image", undefined, 404],
      ["annotator with a space", "/api/maps/a%20b/a.png", { method: "PUT", body: png }, 400],
      [
        "annotator of 65 chars",
        `/api/maps/${"x".repeat(65)}/a.png`,
        { method: "PUT", body: png },
        400,
      ],
      ["non-ASCII annotator", "/api/maps/%C3%A9/a.png", { method: "PUT", body: png }, 400],
      ["bad annotator on items", "/api/items?annotator=..", undefined, 400],
      ["huge body", "/api/maps/alice/a.png", { method: "PUT", body: huge }, 413],
      ["huge chunked body", "/api/maps/alice/a.png", { method: "PUT", body: chunked() }, 413],
      ["JPEG body", "/api/maps/alice/a.png", { method: "PUT", body: jpeg }, 400],
      ["text body", "/api/maps/alice/a.png", { method: "PUT", body: "hello" }, 400],
      [
        "PNG signature, garbage after",
        "/api/maps/alice/a.png",
        { method: "PUT", body: fakePng },
        400,
      ],
      ["wrong size", "/api/maps/alice/a.png", {
        method: "PUT",
        body: await greyPng(30, 40, () => 1),
      }, 400],
      ["judgment: bad label", "/api/judgments/alice/a.png", {
        method: "POST",
        body: '{"label":"Fake","ms":3}',
      }, 400],
      ["judgment: no ms", "/api/judgments/alice/a.png", {
        method: "POST",
        body: '{"label":"Real"}',
      }, 400],
      ["judgment: negative ms", "/api/judgments/alice/a.png", {
        method: "POST",
        body: '{"label":"Real","ms":-1}',
      }, 400],
      ["judgment: not JSON", "/api/judgments/alice/a.png", { method: "POST", body: "Real" }, 400],
      ["judgment: unknown item", "/api/judgments/alice/nope.png", {
        method: "POST",
        body: '{"label":"Real","ms":3}',
      }, 404],
      ["judgment: huge body", "/api/judgments/alice/a.png", { method: "POST", body: huge }, 413],
      ["GET of an absent map", "/api/maps/alice/a.png", undefined, 404],
      ["unknown route", "/api/nothing", undefined, 404],
    ];
    for (const [what, path, init, status] of cases) {
      const r = await req(`${url}${path}`, init).catch((e) => ({ status: -1, body: String(e) }));
      assert.equal(r.status, status, `${what}: ${r.body}`);
    }
    // A declared oversized body is refused from its Content-Length, before it is read.
    const early = await req(`${url}/api/maps/alice/a.png`, { method: "PUT", body: huge });
    assert.match(early.body, /body of 17825792 bytes exceeds the limit of 16777216 bytes/);
    assert.deepEqual(await treeSnapshot(root), before, "a refused request wrote something");
  }, { maxBodyBytes: 16 * 1024 * 1024 });
});

Deno.test("symlinks out of the data root are refused", async () => {
  const { root, csv } = await makeFixture();
  const outside = await Deno.makeTempDir({ prefix: "cyborg-outside-" });
  try {
    // An image that is a symlink to a file outside, and a heatmaps/ folder linked outside.
    await Deno.writeFile(join(outside, "secret.png"), await greyPng(40, 30, () => 7));
    await Deno.remove(join(root, "images/fake/b.png"));
    await Deno.symlink(join(outside, "secret.png"), join(root, "images/fake/b.png"));
    await Deno.mkdir(join(outside, "heat"));
    await Deno.symlink(join(outside, "heat"), join(root, "heatmaps"));
    const s = await startAnnotateServer({ data: root, csv, port: 0 });
    try {
      const img = await req(`${s.url}/api/items/b.png/image`);
      assert.equal(img.status, 403, img.body);
      const put = await req(`${s.url}/api/maps/alice/a.png`, {
        method: "PUT",
        body: await greyPng(40, 30, () => 255),
      });
      assert.equal(put.status, 403, put.body);
      const jr = await req(`${s.url}/api/judgments/alice/a.png`, {
        method: "POST",
        body: '{"label":"Real","ms":5}',
      });
      assert.equal(jr.status, 403, jr.body);
      assert.deepEqual(await Array.fromAsync(Deno.readDir(join(outside, "heat"))), []);
    } finally {
      await s.shutdown();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("a CSV row leaving the data root or reusing a base name is refused at start", async () => {
  const { root, csv } = await makeFixture();
  try {
    await Deno.writeTextFile(csv, "train,Real,/images/real/a.png\ntrain,Real,/../x/a.png\n");
    await assert.rejects(
      startAnnotateServer({ data: root, csv, port: 0 }),
      /original\.csv:2: image path "\/\.\.\/x\/a\.png" contains "\.\."/,
    );
    await Deno.writeTextFile(csv, "train,Real,/images/real/a.png\ntrain,Real,/images/fake/a.png\n");
    await assert.rejects(
      startAnnotateServer({ data: root, csv, port: 0 }),
      /original\.csv:2: base name "a\.png" already used at .*original\.csv:1/,
    );
    await assert.rejects(
      startAnnotateServer({ data: root, csv, port: 0, annotator: "no/slash" }),
      /--annotator: "no\/slash" is not a valid name/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
