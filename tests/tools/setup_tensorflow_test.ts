import assert from "node:assert/strict";
import { exists } from "../../lib/run_dir.ts";
import { installedTensorflowPackages } from "../../lib/backend.ts";
import { installError, setupTensorflow } from "../../tools/setup_tensorflow.ts";

const PROJECT_ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);

// The real task, its install script pointed at a mirror that refuses connections: it fails the
// same way wherever it runs (and quickly: the package itself comes from the npm cache or registry),
// names the host and what the machine needs, and leaves nothing behind.
Deno.test("deno task setup:tensorflow --gpu: a failed download fails clearly, changes nothing", async () => {
  const files = ["deno.json", "deno.lock"].map((f) => `${PROJECT_ROOT}${f}`);
  const before = await Promise.all(files.map((f) => Deno.readFile(f)));
  const tmp = await Deno.makeTempDir({ prefix: "cyborg-setup-tf-" });
  const dir = `${tmp}/tf`;
  const t0 = performance.now();
  const res = await new Deno.Command(Deno.execPath(), {
    cwd: PROJECT_ROOT,
    args: ["task", "setup:tensorflow", "--gpu", "--dir", dir],
    env: { NO_COLOR: "1", TFJS_NODE_CDN_STORAGE: "http://127.0.0.1:9/" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const stderr = new TextDecoder().decode(res.stderr);
  assert.equal(res.code, 1, stderr);
  assert.match(
    stderr,
    /npm:@tensorflow\/tfjs-node-gpu@4\.22\.0 is not installed: its install script failed: .*ECONNREFUSED/,
  );
  assert.match(stderr, /It downloads libtensorflow from 127\.0\.0\.1:9 while installing/);
  assert.match(stderr, /HTTPS access to 127\.0\.0\.1:9 \(libtensorflow 2\.9\.1/);
  assert.match(stderr, /Linux x86_64 with an NVIDIA GPU and driver, CUDA 11\.2 and cuDNN 8\.1/);
  assert.match(stderr, /Nothing was installed .*; deno\.json and deno\.lock are unchanged\.$/m);
  assert.ok(!(await exists(dir)), `${dir} left behind`);
  const after = await Promise.all(files.map((f) => Deno.readFile(f)));
  for (const [i, f] of files.entries()) assert.deepEqual(after[i], before[i], `${f} changed`);
  console.log(`setup:tensorflow --gpu failed in ${seconds.toFixed(1)} s`);
  await Deno.remove(tmp, { recursive: true });
});

/** A throwaway kit folder (deno.json, deno.lock) for the injected-installer cases. */
async function fakeKit(): Promise<{ root: string; dir: string }> {
  const root = await Deno.makeTempDir({ prefix: "cyborg-setup-tf-kit-" });
  await Deno.writeTextFile(`${root}/deno.json`, '{ "imports": {} }\n');
  await Deno.writeTextFile(`${root}/deno.lock`, '{ "version": "5" }\n');
  return { root, dir: `${root}/.tensorflow` };
}

Deno.test("setup:tensorflow: a failed reinstall keeps the earlier install and restores the kit's files", async () => {
  const { root, dir } = await fakeKit();
  await Deno.mkdir(`${dir}/cpu`, { recursive: true });
  await Deno.writeTextFile(`${dir}/cpu/earlier`, "kept");
  const res = await setupTensorflow({
    gpu: false,
    dir,
    root,
    host: "mirror.example",
    installer: async (cwd) => {
      // Half an install, and a stray write to the kit's lock file.
      await Deno.mkdir(`${cwd}/node_modules/@tensorflow/tfjs-node`, { recursive: true });
      await Deno.writeTextFile(`${root}/deno.lock`, "rewritten");
      return { code: 1, output: "error: Uncaught Error: getaddrinfo ENOTFOUND mirror.example\n" };
    },
  });
  assert.equal(res.ok, false);
  assert.match(res.message, /install script failed: Error: getaddrinfo ENOTFOUND mirror\.example/);
  assert.match(res.message, /HTTPS access to mirror\.example/);
  assert.match(res.message, /\(deno\.lock restored\)/);
  assert.equal(await Deno.readTextFile(`${root}/deno.lock`), '{ "version": "5" }\n');
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["cpu"]);
  assert.deepEqual([...Deno.readDirSync(`${dir}/cpu`)].map((e) => e.name), ["earlier"]);

  // An install that exits 0 without the addon (no download) is a failure too.
  const noAddon = await setupTensorflow({
    gpu: false,
    dir,
    root,
    installer: () => Promise.resolve({ code: 0, output: "" }),
  });
  assert.equal(noAddon.ok, false);
  assert.match(noAddon.message, /left no tfjs_binding\.node/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("setup:tensorflow: a successful install replaces the earlier one; the backend finds it", async () => {
  const { root, dir } = await fakeKit();
  await Deno.mkdir(`${dir}/cpu`, { recursive: true });
  await Deno.writeTextFile(`${dir}/cpu/earlier`, "replaced");
  const res = await setupTensorflow({
    gpu: false,
    dir,
    root,
    installer: async (cwd, pkg) => {
      const p = `${cwd}/node_modules/${pkg}`;
      await Deno.mkdir(`${p}/lib/napi-v8`, { recursive: true });
      await Deno.writeTextFile(`${p}/package.json`, `{ "name": "${pkg}" }`);
      await Deno.writeFile(`${p}/lib/napi-v8/tfjs_binding.node`, new Uint8Array(1));
      return { code: 0, output: "" };
    },
  });
  assert.equal(res.ok, true, res.message);
  assert.equal(res.target, `${dir}/cpu`);
  assert.ok(!(await exists(`${dir}/cpu/earlier`)));
  assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/cpu/deno.json`)).imports, {
    "@tensorflow/tfjs-node": "npm:@tensorflow/tfjs-node@4.22.0",
  });
  assert.deepEqual(installedTensorflowPackages(dir), [
    { name: "@tensorflow/tfjs-node", from: `${dir}/cpu` },
  ]);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["cpu"]);
  await Deno.remove(root, { recursive: true });
});

Deno.test("setup:tensorflow --gpu off Linux x86_64 is refused before installing anything", async () => {
  const { root, dir } = await fakeKit();
  const res = await setupTensorflow({
    gpu: true,
    dir,
    root,
    platform: { os: "darwin", arch: "aarch64" },
    installer: () => {
      throw new Error("must not run");
    },
  });
  assert.equal(res.ok, false);
  assert.match(res.message, /built for Linux x86_64 only \(this is darwin aarch64\)/);
  assert.match(res.message, /CUDA 11\.2 and cuDNN 8\.1/);
  assert.ok(!(await exists(dir)));
  await Deno.remove(root, { recursive: true });
});

Deno.test("installError: the uncaught error of the install script, colours stripped", () => {
  assert.equal(
    installError(
      "stdout:\nx\n\x1b[1m\x1b[31merror\x1b[0m: Uncaught Error: getaddrinfo ENOTFOUND h\n" +
        "    at x\nerror: failed to run scripts for packages: p\n",
    ),
    "Error: getaddrinfo ENOTFOUND h",
  );
  assert.equal(installError("error: npm package not found\n"), "npm package not found");
});
