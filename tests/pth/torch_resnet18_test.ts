import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resnet18 } from "../../lib/backbones/resnet.ts";
import { initBackend } from "../../lib/backend.ts";
import { ForwardContext } from "../../lib/nn.ts";
import { readSafetensors } from "../../lib/safetensors.ts";
import { exportStateDict } from "../../lib/state_dict.ts";
import { applyWeights, readWeightsFile } from "../../lib/weights.ts";

const WRITE = new URL("../../tools/fixtures/torch_resnet18_pth.py", import.meta.url).pathname;

const hasTorch = new Deno.Command("/usr/bin/python3", {
  args: ["-c", "import torch, torchvision"],
  stdout: "null",
  stderr: "null",
}).outputSync().success;

/** Index of the first element whose bits differ, or -1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

/** max |a − b| / max |b|. */
function rel(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

Deno.test({
  name: "resnet18 checkpoints written by torch (zip, legacy, module., the paper's dict with " +
    "optimizer, fp16, 1000 classes) load into the kit's resnet18 with torch's logits " +
    "(needs /usr/bin/python3 with torch)",
  ignore: !hasTorch,
  async fn() {
    await initBackend("cpu");
    const dir = await Deno.makeTempDir({ prefix: "torch_resnet18_" });
    try {
      const r = await new Deno.Command("/usr/bin/python3", {
        args: [WRITE, dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(r.code, 0, dec.decode(r.stdout) + dec.decode(r.stderr));
      const ref = await readSafetensors(`${dir}/reference.safetensors`);
      const floor = Number(ref.metadata.floor);
      const get = (name: string) => ref.tensors.get(name)!;
      const x = tf.tensor4d(get("x").data, get("x").shape as [number, number, number, number]);
      const names = [...ref.tensors.keys()].filter((k) => k.startsWith("sd.")).map((k) =>
        k.slice(3)
      );
      const cases: [string, string, string][] = [
        // file, name prefix in the file, reference values
        ["resnet18.pth", "", "sd."],
        ["resnet18_legacy.pth", "", "sd."],
        ["resnet18_module.pth", "module.", "sd."],
        ["resnet18_ckpt.pth", "", "sd."],
        ["resnet18_fp16.pth", "", "fp16."],
      ];
      const errors: Record<string, number> = {};
      const m = resnet18.build({ seed: 5, inputSize: 64 });
      try {
        for (const [file, prefix, values] of cases) {
          const path = `${dir}/${file}`;
          const w = await readWeightsFile(path);
          assert.deepEqual([...w.tensors.keys()], names.map((n) => `${prefix}${n}`), file);
          for (const n of names) {
            const t = w.tensors.get(`${prefix}${n}`)!;
            assert.deepEqual(t.shape, get(`${values}${n}`).shape, `${file}: ${n}`);
            assert.equal(firstDifference(t.data, get(`${values}${n}`).data), -1, `${file}: ${n}`);
          }
          if (file === "resnet18_ckpt.pth") assert.deepEqual(w.metadata, { epoch: "7" });
          const report = applyWeights(m, w.tensors, w.metadata, path);
          assert.equal(report.loaded, names.length, file);
          assert.equal(report.renamed, prefix ? names.length : 0, file);
          if (prefix) {
            // Renamed tensors land where torch has them (layouts converted back).
            for (const [n, t] of await exportStateDict(m.store)) {
              assert.equal(firstDifference(t.data, get(`sd.${n}`).data), -1, `${file}: ${n}`);
            }
          }
          // The same values give the same logits: computed for the float32 and float16 values.
          if (file !== "resnet18.pth" && file !== "resnet18_fp16.pth") continue;
          const out = m.forward(x, new ForwardContext(false));
          const logits = (await out.logits.data()) as Float32Array;
          tf.dispose([out.logits, out.taps.paper, out.taps.standard]);
          const want = get(values === "fp16." ? "logits_fp16" : "logits").data;
          errors[file] = rel(logits, want);
          assert.ok(errors[file] <= 8 * floor, `${file}: logits ${errors[file]} vs torch's`);
        }
        // torchvision's ImageNet shapes (1000 classes): a fresh 2-class head, or a clear error.
        const in1k = `${dir}/resnet18_in1k.pth`;
        const w = await readWeightsFile(in1k);
        assert.throws(
          () => applyWeights(m, w.tensors, w.metadata, in1k),
          /resnet18_in1k\.pth: tensor "fc\.weight" has shape \[1000,512\] but the network expects \[2,512\]/,
        );
        const report = applyWeights(m, w.tensors, w.metadata, in1k, { newHead: true });
        assert.deepEqual(report.skipped, ["fc.weight", "fc.bias"]);
        assert.equal(report.loaded, names.length - 2);
      } finally {
        tf.dispose(x);
        m.store.dispose();
      }
      console.log(JSON.stringify({ floor, tolerance: 8 * floor, logitErrors: errors }));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
