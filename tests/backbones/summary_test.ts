import assert from "node:assert/strict";
import { initBackend } from "../../lib/backend.ts";
import {
  backboneSummaries,
  backboneTable,
  camTapTable,
  formatParams,
} from "../../lib/backbones/summary.ts";
import { BACKBONES, getBackbone } from "../../lib/backbones/registry.ts";

Deno.test("backboneSummaries: parameter counts of the built models and the specs' facts", async () => {
  await initBackend("cpu");
  const rows = backboneSummaries(["tinycnn", "smallcnn"]);
  assert.deepEqual(rows.map((r) => r.name), ["tinycnn", "smallcnn"]);
  for (const r of rows) {
    const e = getBackbone(r.name);
    const m = e.build({ seed: 1, inputSize: e.spec.inputSize });
    assert.equal(r.params, m.store.countTrainable());
    m.store.dispose();
    assert.equal(r.camGrid, e.spec.camGrid(e.spec.inputSize));
    assert.equal(r.featureDim, e.spec.featureDim);
    assert.equal(r.paperTap, e.spec.camTaps.paper);
  }
  assert.throws(() => backboneSummaries(["nope"]), /^Error: network: unknown network "nope"/);
  assert.ok(Object.keys(BACKBONES).length >= 8);
});

Deno.test("formatParams and the tables", () => {
  assert.equal(formatParams(23_512_130), "23.51 M");
  assert.equal(formatParams(97_938), "97.9 k");
  assert.equal(formatParams(1030), "1030");
  const row = {
    name: "x",
    description: "d",
    inputSize: 224,
    minInputSize: 32,
    featureDim: 512,
    camGrid: 7,
    params: 11_177_538,
    paperTap: "p",
    standardTap: "s",
  };
  assert.deepEqual(backboneTable([row]).rows, [["x", "d", 224, 32, "11.18 M", 512, "7×7"]]);
  assert.deepEqual(camTapTable([row]).rows, [["x", "p", "s"]]);
});
