/**
 * The `CYBORG_STOCK_KERNELS` switch: `1` (any value but empty or `0`) makes the kit use tfjs's
 * stock kernels and ops only, for A/B measurements and as an escape hatch.
 *
 * @module
 */

/** True when `CYBORG_STOCK_KERNELS` asks for tfjs's stock kernels only. */
export function stockKernelsRequested(): boolean {
  let v: string | undefined;
  try {
    v = Deno.env.get("CYBORG_STOCK_KERNELS");
  } catch {
    return false; // no --allow-env: the kit's kernels stay on
  }
  return v !== undefined && v !== "" && v !== "0";
}
