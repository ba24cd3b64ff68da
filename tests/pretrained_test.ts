import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { tinycnn } from "../lib/backbones/small_cnn.ts";
import { initBackend } from "../lib/backend.ts";
import {
  downloadFile,
  downloadUrl,
  fetchPretrained,
  hashPrefixOf,
  IMAGENET_WEIGHTS,
  loadPretrained,
  pretrainedFileOf,
  weightsCacheDir,
} from "../lib/pretrained.ts";
import { exportStateDict } from "../lib/state_dict.ts";
import { saveWeights } from "../lib/weights.ts";

await initBackend("cpu");

const root = await Deno.makeTempDir({ prefix: "pretrained_test_" });
let served = new Map<string, Uint8Array<ArrayBuffer>>();
let cut: false | "error" | "close" | "stall" = false;
const stalled: ReadableStreamDefaultController<Uint8Array>[] = [];
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
  const name = new URL(req.url).pathname.split("/").pop()!;
  const body = served.get(name);
  if (!body) return new Response("not found", { status: 404 });
  if (!cut) return new Response(body, { headers: { "content-length": String(body.length) } });
  // The connection drops after half the file (or, "stall", sends nothing more).
  const mode = cut;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(body.slice(0, body.length >> 1));
      if (mode === "stall") stalled.push(c);
      else {setTimeout(() =>
          mode === "close" ? c.close() : c.error(new Error("connection cut")), 20);}
    },
  });
  return new Response(stream, { headers: { "content-length": String(body.length) } });
});
const base = `http://127.0.0.1:${server.addr.port}`;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const listing = async (dir: string) =>
  await Array.fromAsync(Deno.readDir(dir)).then((e) => e.map((x) => x.name).sort(), () => []);

/** `deno task train` asked for ImageNet resnet18 weights (through CYBORG_WEIGHTS_BASE_URL). */
const TRAIN_PRETRAINED = [
  "run",
  "-A",
  new URL("../tools/train.ts", import.meta.url).pathname,
  ...["--network", "resnet18", "--pretrained", "imagenet"],
];

Deno.test("official names, hash prefixes and cache folders", () => {
  assert.equal(hashPrefixOf("resnet18-f37072fd.pth"), "f37072fd");
  assert.equal(hashPrefixOf("inception_v3_google-0cc3c7bd.pth"), "0cc3c7bd");
  assert.deepEqual(Object.keys(IMAGENET_WEIGHTS), [
    "resnet18",
    "resnet34",
    "resnet50",
    "densenet121",
    "inception_v3",
    "xception",
  ]);
  assert.equal(pretrainedFileOf("/c/inception_v3_google-0cc3c7bd.pth")?.transformInput, true);
  assert.equal(pretrainedFileOf("/c/resnet18-f37072fd.pth")?.transformInput, undefined);
  assert.equal(pretrainedFileOf("/c/mine.pth"), undefined);
  const env = (vars: Record<string, string>) => (k: string) => vars[k];
  assert.equal(weightsCacheDir(env({ CYBORG_CACHE_DIR: "/a", XDG_CACHE_HOME: "/b" })), "/a");
  assert.equal(weightsCacheDir(env({ XDG_CACHE_HOME: "/b", HOME: "/h" })), "/b/cyborg-kit/weights");
  assert.equal(weightsCacheDir(env({ HOME: "/h" })), "/h/.cache/cyborg-kit/weights");
  assert.equal(
    downloadUrl(IMAGENET_WEIGHTS.resnet50, env({ CYBORG_WEIGHTS_BASE_URL: "http://m/w/" })),
    "http://m/w/resnet50-0676ba61.pth",
  );
  assert.equal(downloadUrl(IMAGENET_WEIGHTS.resnet50, env({})), IMAGENET_WEIGHTS.resnet50.url);
});

Deno.test("a good file is cached; a bad hash is refused; a cut connection leaves nothing", async () => {
  const body = new Uint8Array(300_000).map((_, i) => (i * 2654435761) >>> 24);
  const good = `w-${sha(body).slice(0, 8)}.pth`;
  const bad = `w-${sha(body).slice(0, 7)}${sha(body)[7] === "0" ? "1" : "0"}.pth`;
  served = new Map([[good, body], [bad, body]]);
  const cache = `${root}/dl`;
  await downloadFile(`${base}/${good}`, `${cache}/${good}`, true, "silent");
  assert.deepEqual(await Deno.readFile(`${cache}/${good}`), body);
  await assert.rejects(
    downloadFile(`${base}/${bad}`, `${cache}/${bad}`, true, "silent"),
    new RegExp(
      `${base}/${bad}: invalid hash value \\(expected "${hashPrefixOf(bad)}", got "${
        sha(body)
      }"\\)`,
    ),
  );
  assert.deepEqual(await listing(cache), [good], "nothing cached for the bad hash");
  for (const mode of ["error", "close"] as const) {
    cut = mode;
    try {
      await assert.rejects(
        downloadFile(`${base}/${good}`, `${cache}/again-${good}`, true, "silent"),
        /download of .* broke off after \d+ (of 300000 )?bytes/,
        mode,
      );
    } finally {
      cut = false;
    }
  }
  assert.deepEqual(await listing(cache), [good], "no partial file");
  await assert.rejects(
    downloadFile(`${base}/absent.pth`, `${cache}/absent.pth`, true, "silent"),
    /HTTP 404/,
  );
});

Deno.test("fetchPretrained: CYBORG_WEIGHTS_BASE_URL keeps the official name; offline names URL and place", async () => {
  const cache = `${root}/fp`;
  const env = (url: string) => (k: string) => k === "CYBORG_WEIGHTS_BASE_URL" ? url : undefined;
  // The mirror serves something else under resnet18's official name: refused, nothing cached.
  served = new Map([["resnet18-f37072fd.pth", new Uint8Array(1000)]]);
  await assert.rejects(
    fetchPretrained("resnet18", {
      cacheDir: cache,
      env: env(`${base}/mirror/`),
      progress: "silent",
    }),
    new RegExp(`${base}/mirror/resnet18-f37072fd\\.pth: invalid hash value \\(expected "f37072fd"`),
  );
  assert.deepEqual(await listing(cache), []);
  // A closed port stands for no network.
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (closed.addr as Deno.NetAddr).port;
  closed.close();
  await assert.rejects(
    fetchPretrained("densenet121", { cacheDir: cache, env: env(`http://127.0.0.1:${port}`) }),
    (e: Error) => {
      assert.match(
        e.message,
        new RegExp(
          `cannot download http://127\\.0\\.0\\.1:${port}/densenet121-a639ec97\\.pth \\(offline\\?\\)`,
        ),
      );
      assert.ok(e.message.includes(`put it at ${cache}/densenet121-a639ec97.pth`), e.message);
      return true;
    },
  );
  await assert.rejects(
    fetchPretrained("tinycnn", { cacheDir: cache }),
    /no ImageNet weights for "tinycnn"/,
  );
  // A file put there by hand is used as it is (Xception's name carries no checked hash) ...
  await Deno.writeFile(`${cache}/xception-b5690688.pth`, new Uint8Array([1]));
  assert.equal(
    await fetchPretrained("xception", { cacheDir: cache }),
    `${cache}/xception-b5690688.pth`,
  );
  // ... and a damaged one under a checked name is reported, not deleted.
  await Deno.writeFile(`${cache}/resnet34-b627a593.pth`, new Uint8Array([1]));
  await assert.rejects(
    fetchPretrained("resnet34", { cacheDir: cache }),
    /resnet34-b627a593\.pth \(in the weights cache; replace it\): invalid hash value/,
  );
  assert.ok((await Deno.stat(`${cache}/resnet34-b627a593.pth`)).isFile);
});

Deno.test("loadPretrained: 1000-class weights load with a fresh 2-class head", async () => {
  const imagenet = tinycnn.build({ seed: 7, numClasses: 1000 });
  const fresh = tinycnn.build({ seed: 8 });
  const model = tinycnn.build({ seed: 8 });
  try {
    await saveWeights(imagenet, `${root}/src.pth`);
    const bytes = await Deno.readFile(`${root}/src.pth`);
    const name = `tinycnn_in1k-${sha(bytes).slice(0, 8)}.pth`;
    served = new Map([[name, bytes]]);
    const files = { tinycnn: { url: `${base}/${name}`, checkHash: true } };
    const report = await loadPretrained(model, {
      cacheDir: `${root}/lp`,
      files,
      progress: "silent",
    });
    assert.deepEqual(report.skipped, ["fc.weight", "fc.bias"]);
    const [got, want, head] = await Promise.all(
      [model, imagenet, fresh].map((m) => exportStateDict(m.store)),
    );
    for (const [k, t] of got) {
      assert.deepEqual(t.data, (k.startsWith("fc.") ? head : want).get(k)!.data, k);
    }
  } finally {
    for (const m of [imagenet, fresh, model]) m.store.dispose();
  }
});

Deno.test("train --pretrained imagenet offline: exit 1, the URL and where to put the file", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const r = await new Deno.Command(Deno.execPath(), {
    args: TRAIN_PRETRAINED,
    env: {
      NO_COLOR: "1",
      CYBORG_CACHE_DIR: `${root}/cli`,
      CYBORG_WEIGHTS_BASE_URL: `http://127.0.0.1:${port}`,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(r.stderr);
  assert.equal(r.code, 1, err);
  assert.match(
    err,
    new RegExp(`cannot download http://127\\.0\\.0\\.1:${port}/resnet18-f37072fd\\.pth`),
  );
  assert.ok(err.includes(`put it at ${root}/cli/resnet18-f37072fd.pth`), err);
  assert.ok(!err.includes("    at "), "no stack trace");
  assert.deepEqual(await listing(`${root}/cli`), []);
});

Deno.test("a download interrupted by SIGINT or SIGTERM leaves nothing; a killed one's file goes with the next download", async () => {
  const cache = `${root}/int`;
  const body = new Uint8Array(2_000_000).fill(7);
  served = new Map([["resnet18-f37072fd.pth", body]]);
  cut = "stall";
  const start = () =>
    new Deno.Command(Deno.execPath(), {
      args: TRAIN_PRETRAINED,
      env: { NO_COLOR: "1", CYBORG_CACHE_DIR: cache, CYBORG_WEIGHTS_BASE_URL: base },
      stdout: "null",
      stderr: "null",
    }).spawn();
  /** Waits until the half file sent so far is in the cache folder's temporary file. */
  const partWritten = async () => {
    for (let i = 0; i < 1200; i++) {
      for (const name of await listing(cache)) {
        const size = await Deno.stat(`${cache}/${name}`).then((s) => s.size, () => 0);
        if (name.endsWith(".part") && size === body.length >> 1) return name;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("the download never started");
  };
  try {
    for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
      const child = start();
      await partWritten();
      child.kill(signal);
      assert.equal((await child.status).code, code, signal);
      assert.deepEqual(await listing(cache), [], `${signal}: nothing left in the cache`);
    }
    const child = start();
    const part = await partWritten();
    child.kill("SIGKILL");
    await child.status;
    assert.deepEqual(await listing(cache), [part], "SIGKILL leaves the temporary file");
    cut = false;
    served.set("w.pth", body);
    await downloadFile(`${base}/w.pth`, `${cache}/w.pth`, false, "silent");
    assert.deepEqual(await listing(cache), ["w.pth"], "the next download removes it");
  } finally {
    cut = false;
    for (const c of stalled.splice(0)) {
      try {
        c.close();
      } catch {
        // cancelled when the client went away
      }
    }
  }
});

Deno.test("cleanup", async () => {
  await server.shutdown();
  await Deno.remove(root, { recursive: true });
});
