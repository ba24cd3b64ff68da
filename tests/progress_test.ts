import assert from "node:assert/strict";
import { formatDuration, Progress, renderBar } from "../lib/progress.ts";

Deno.test("bar shows percent, count, rate and ETA", () => {
  const s = renderBar("epoch 1/2", { done: 50, total: 200, note: "loss 0.1" }, 10);
  assert.equal(s, "epoch 1/2 [######..................]  25% 50/200 5.0 img/s ETA 30s loss 0.1");
  assert.equal(formatDuration(3725), "1h02m");
  assert.equal(formatDuration(65), "1m05s");
  assert.equal(formatDuration(NaN), "?");
});

Deno.test("outside a terminal or kernel the progress prints plain lines (rate-limited)", () => {
  const p = new Progress("x", "img");
  assert.ok(["plain", "tty"].includes(p.mode));
  assert.equal(new Progress("x", "img", "silent").mode, "silent");
});
