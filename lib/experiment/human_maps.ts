/**
 * The mean human map per class (`<out>/<variant>/mean_human_map.json`), the reference panel of the
 * average-CAM figure.
 *
 * @module
 */
import { getBackbone } from "../backbones/registry.ts";
import { openDataset } from "../data/dataset.ts";
import { checkDataIdentity } from "../data_identity.ts";
import { readJsonIfExists, writeJson } from "../run_dir.ts";
import type { DataVariant } from "./run_config.ts";

/**
 * Mean human map (at the CAM grid) over the training rows of `<root>/csvs/original.csv`, per
 * class: the reference panel of the average-CAM figure. Written to
 * `<out>/<variant>/mean_human_map.json`, and kept while the CAM grid stays the same.
 */
export async function writeMeanHumanMaps(
  variant: DataVariant,
  out: string,
  network: string,
  inputSize: number,
): Promise<void> {
  await checkDataIdentity(out, variant, { log: (l) => console.error(l) });
  const path = `${out}/${variant.name}/mean_human_map.json`;
  const entry = getBackbone(network);
  const grid = entry.spec.camGrid(inputSize);
  // Reused only at the same CAM grid (another network or input size rewrites it).
  if ((await readJsonIfExists<{ grid: number }>(path))?.grid === grid) return;
  const ds = await openDataset({
    csv: `${variant.root}/csvs/original.csv`,
    imageRoot: variant.root,
    split: "train",
    inputSize,
    mean: entry.spec.mean,
    std: entry.spec.std,
    maps: { dir: `${variant.root}/heatmaps`, grid },
  });
  const sums = [new Float64Array(grid * grid), new Float64Array(grid * grid)];
  const counts = [0, 0];
  const all = ds.items.map((_, i) => i);
  for (let i = 0; i < all.length; i += 256) {
    const b = await ds.getBatch(all.slice(i, i + 256));
    for (let k = 0; k < b.n; k++) {
      const cls = b.y[k];
      counts[cls]++;
      for (let j = 0; j < grid * grid; j++) sums[cls][j] += b.maps![k * grid * grid + j];
    }
  }
  await Deno.mkdir(`${out}/${variant.name}`, { recursive: true });
  await writeJson(path, {
    grid,
    real: Array.from(sums[0], (v) => v / Math.max(counts[0], 1)),
    fake: Array.from(sums[1], (v) => v / Math.max(counts[1], 1)),
  });
}
