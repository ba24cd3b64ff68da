import assert from "node:assert/strict";
import { chooseSplitK, chooseTile, ImplicitGemmProgram } from "../../lib/kernels/implicit_gemm.ts";
import {
  CPU_TUNING,
  GPU_TUNING,
  kitTuning,
  setKitTuning,
  tuningFor,
} from "../../lib/kernels/tuning.ts";

function withEnv(vars: Record<string, string>, f: () => void) {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(vars)) Deno.env.set(k, v);
  try {
    f();
  } finally {
    for (const [k, v] of Object.entries(old)) {
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  }
}

Deno.test("tuningFor picks the llvmpipe profile for fallback adapters and applies env overrides", () => {
  withEnv({ CYBORG_KIT_TK: "", CYBORG_KIT_CONV2D_MAX_M: "", CYBORG_KIT_DX_MIN_M: "" }, () => {
    assert.deepEqual(tuningFor(true), CPU_TUNING);
    assert.equal(tuningFor(false).dxMinM, Infinity, "tfjs input gradient on GPUs until measured");
    assert.deepEqual(tuningFor(false), GPU_TUNING);
  });
  withEnv({ CYBORG_KIT_TK: "8", CYBORG_KIT_CONV2D_MAX_M: "all", CYBORG_KIT_DX_MIN_M: "0" }, () => {
    const t = tuningFor(false);
    assert.equal(t.dxMinM, 0);
    assert.equal(t.tk, 8);
    assert.equal(t.conv2dMaxM, Infinity);
    assert.match(t.name, /tk=8/);
  });
  withEnv({ CYBORG_KIT_TK: "x" }, () => assert.throws(() => tuningFor(true), /CYBORG_KIT_TK/));
  withEnv({ CYBORG_KIT_DX_MIN_M: "x" }, () => assert.throws(() => tuningFor(true), /DX_MIN_M/));
  withEnv({ CYBORG_KIT_SPLITK: "off" }, () => assert.equal(tuningFor(false).splitKWorkgroups, 0));
  withEnv({ CYBORG_KIT_COALESCE: "off" }, () => assert.equal(tuningFor(true).coalesce, false));
  withEnv({ CYBORG_KIT_COALESCE: "no" }, () => assert.throws(() => tuningFor(true), /on or off/));
  withEnv({ CYBORG_KIT_SPLITK: "1.5" }, () => assert.throws(() => tuningFor(false), /SPLITK/));
  withEnv({ CYBORG_KIT_CONV2D_MAX_M: "lots" }, () => {
    assert.throws(() => tuningFor(true), /CYBORG_KIT_CONV2D_MAX_M/);
  });
});

Deno.test("setKitTuning validates and drives chooseTile", () => {
  const saved = { ...kitTuning() };
  try {
    assert.throws(() => setKitTuning({ ...CPU_TUNING, tk: 6 }), /multiple of 4/);
    setKitTuning(CPU_TUNING);
    assert.equal(chooseTile(1000, 1000).tk, 4);
    setKitTuning(GPU_TUNING);
    assert.equal(chooseTile(1000, 1000).tk, 16);
  } finally {
    setKitTuning(saved);
  }
});

Deno.test("ImplicitGemmProgram rejects tiles whose loads would not cover the staging tiles", () => {
  // 128×128 tiles need 1024 invocations; 64×64×2 would leave half the A tile unstaged.
  assert.throws(
    () => new ImplicitGemmProgram({ ...spec(), tile: { tm: 128, tn: 128, tk: 4 } }),
    /256/,
  );
  assert.throws(
    () => new ImplicitGemmProgram({ ...spec(), tile: { tm: 64, tn: 64, tk: 2 } }),
    /tile/,
  );
  assert.ok(new ImplicitGemmProgram({ ...spec(), tile: { tm: 64, tn: 64, tk: 4 } }));
});

Deno.test("chooseSplitK: GPUs split small-output, long-K GEMMs into whole K tiles; llvmpipe never", () => {
  const tile = { tm: 64, tn: 64, tk: 16 };
  // ResNet50 layer1 3×3 weight gradient at 224 px, batch 32: M = 576, N = 64, K = 32·56·56.
  const k = 32 * 56 * 56;
  const s = chooseSplitK(576, 64, k, tile, GPU_TUNING);
  assert.equal(s.splits, 30, "9 output tiles × 30 splits ≥ 264 workgroups");
  assert.equal(s.kChunk % 16, 0);
  assert.ok(s.kChunk * s.splits >= k && s.kChunk * (s.splits - 1) < k, "chunks cover K once");
  assert.deepEqual(chooseSplitK(576, 64, k, tile, CPU_TUNING), { splits: 1, kChunk: k });
  assert.equal(chooseSplitK(4096, 512, k, tile, GPU_TUNING).splits, 1, "512 tiles: enough");
  assert.equal(chooseSplitK(576, 64, 300, tile, GPU_TUNING).splits, 1, "K shorter than 2 chunks");
  assert.equal(new ImplicitGemmProgram({ ...spec(), splitK: 3 }).dispatch[2], 3);
  assert.deepEqual(new ImplicitGemmProgram({ ...spec(), splitK: 3 }).outputShape, [3, 8, 8]);
  // k-major staging needs the workgroup's invocations to be a multiple of the K step.
  const kMajor = { ...spec(), aContiguous: "k" as const, bContiguous: "k" as const };
  const p = new ImplicitGemmProgram({ ...kMajor, tile: { tm: 16, tn: 16, tk: 16 } });
  assert.equal(p.aContiguous, "k");
  assert.notEqual(p.shaderKey, new ImplicitGemmProgram({ ...spec(), tile: p.tile }).shaderKey);
  const q = new ImplicitGemmProgram({ ...kMajor, tile: { tm: 16, tn: 16, tk: 32 } });
  assert.equal(q.aContiguous, "m", "16 invocations cannot stage 32-deep columns: index-major");
});

function spec() {
  return {
    variableNames: ["a", "b"],
    outputShape: [8, 8],
    uniforms: "",
    loaders: "",
    key: "t",
    m: 8,
    n: 8,
    k: 8,
  };
}
