import assert from "node:assert/strict";
import { CPU_OPTIONS, median } from "../../bench/cpu_options.ts";

Deno.test("median: middle value, mean of the middle two, NaN for none", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([5]), 5);
  assert.ok(Number.isNaN(median([])));
});

Deno.test("bench:cpu measures wasm with and without the native GEMMs", () => {
  const kit = CPU_OPTIONS.find((o) => o.name === "wasm-kit")!;
  const native = CPU_OPTIONS.find((o) => o.name === "wasm-native")!;
  assert.equal(kit.native ?? false, false);
  assert.equal(native.native, true);
  assert.equal(native.backend, "wasm");
});
