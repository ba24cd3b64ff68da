import assert from "node:assert/strict";
import { dawnPath, installDawn, installDawnFromEnv } from "../lib/webgpu_dawn.ts";

Deno.test("installDawn: a missing or foreign module is a clear error naming the variable and path", async () => {
  await assert.rejects(
    () => installDawn("/nonexistent/dawn.node"),
    /CYBORG_DAWN_NODE: \/nonexistent\/dawn\.node does not exist/,
  );
  const dir = await Deno.makeTempDir();
  const fake = `${dir}/dawn.node`;
  await Deno.writeTextFile(fake, "not a shared object");
  await assert.rejects(() => installDawn(fake), new RegExp(`${fake} could not be loaded`));
  await Deno.remove(dir, { recursive: true });
  assert.equal(dawnPath(), null, "nothing installed");
  const gpuBefore = navigator.gpu;
  const prev = Deno.env.get("CYBORG_DAWN_NODE");
  Deno.env.delete("CYBORG_DAWN_NODE");
  assert.equal(await installDawnFromEnv(), null, "unset: Deno's own WebGPU stays");
  assert.equal(navigator.gpu, gpuBefore);
  if (prev !== undefined) Deno.env.set("CYBORG_DAWN_NODE", prev);
});
