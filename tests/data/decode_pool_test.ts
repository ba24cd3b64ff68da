import assert from "node:assert/strict";
import { assertRejects, assertThrows } from "./assert.ts";
import { DecodePool } from "../../lib/data/decode_pool.ts";
import { loadImageRgb, loadMapGray } from "../../lib/data/image.ts";
import { FIXTURE_DIR } from "./preprocess_fixture.ts";

Deno.test("DecodePool returns the same pixels as in-process decoding, errors name the file", async () => {
  const pool = new DecodePool(2);
  try {
    const files = ["rgb_37x23.png", "pal_25x17.png", "rgb_41x29.jpg", "gray16_21x13.png"];
    const got = await Promise.all(files.map((f) => pool.loadRgb(FIXTURE_DIR + f, 16)));
    for (let i = 0; i < files.length; i++) {
      assert.deepEqual(got[i], await loadImageRgb(FIXTURE_DIR + files[i], 16), files[i]);
    }
    assert.deepEqual(
      await pool.loadMap(FIXTURE_DIR + "rgba_30x30.png", 7),
      await loadMapGray(FIXTURE_DIR + "rgba_30x30.png", 7),
    );
    assert.equal(pool.busy, 0);
    await assertRejects(
      () => pool.loadRgb(`${FIXTURE_DIR}fixture.json`, 8),
      Error,
      `image: cannot decode ${FIXTURE_DIR}fixture.json`,
    );
  } finally {
    pool.close();
  }
  await assertRejects(() => pool.loadRgb(FIXTURE_DIR + "rgb_37x23.png", 4), Error, "closed");
});

Deno.test("DecodePool stops idle workers by itself and restarts them on demand", async () => {
  const pool = new DecodePool(1, 50);
  try {
    assert.equal(pool.running, 0, "workers start lazily");
    const a = await pool.loadRgb(FIXTURE_DIR + "gray_7x7.png", 3);
    assert.equal(pool.running, 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(pool.running, 0, "stopped after idleMs without work");
    const b = await pool.loadRgb(FIXTURE_DIR + "gray_7x7.png", 3);
    assert.equal(pool.running, 1);
    assert.deepEqual(a, b);
  } finally {
    pool.close();
  }
  assertThrows(() => new DecodePool(0), Error, "workers: must be a positive integer");
});
