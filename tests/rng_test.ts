import assert from "node:assert/strict";
import { hashString, Rng } from "../lib/rng.ts";

Deno.test("same seed, same stream; other seed, other stream", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const sa = Array.from({ length: 5 }, () => a.nextU32());
  assert.deepEqual(sa, Array.from({ length: 5 }, () => b.nextU32()));
  assert.notDeepEqual(sa, Array.from({ length: 5 }, () => c.nextU32()));
});

Deno.test("state round-trips, so a resumed stream continues identically", () => {
  const a = new Rng("x");
  a.uniform();
  const b = new Rng(0);
  b.setState(a.getState());
  assert.equal(a.uniform(), b.uniform());
  assert.throws(() => b.setState([1, 2]), /expected 4 words/);
});

Deno.test("permutation is a permutation and differs across forks", () => {
  const r = new Rng(1);
  const p = r.fork("shuffle:0").permutation(100);
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.notDeepEqual(p, r.fork("shuffle:1").permutation(100));
  assert.deepEqual(p, new Rng(1).fork("shuffle:0").permutation(100));
});

Deno.test("uniform and normal have the right moments", () => {
  const r = new Rng(7);
  const n = 20000;
  let su = 0, sn = 0, sn2 = 0;
  for (let i = 0; i < n; i++) {
    const u = r.uniform();
    assert.ok(u >= 0 && u < 1);
    su += u;
    const z = r.normal();
    sn += z;
    sn2 += z * z;
  }
  assert.ok(Math.abs(su / n - 0.5) < 0.01);
  assert.ok(Math.abs(sn / n) < 0.03);
  assert.ok(Math.abs(sn2 / n - 1) < 0.05);
  assert.equal(hashString("abc"), hashString("abc"));
});
