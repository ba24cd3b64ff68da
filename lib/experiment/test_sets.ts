/**
 * The test sets of a data root (`csvs/test_sets/*.csv`).
 *
 * @module
 */
import { readSplitCsv } from "../data/csv.ts";

/** One test set of a data root. */
export interface TestSet {
  /** Name (CSV base name). */
  name: string;
  /** CSV path. */
  csv: string;
  /** `fake` when every row is Synthetic, `real` when every row is Real, else `mixed`. */
  kind: "fake" | "real" | "mixed";
}

/** Lists `csvs/test_sets/*.csv` of a data root, sorted by name. */
export async function listTestSets(root: string): Promise<TestSet[]> {
  const dir = `${root}/csvs/test_sets`;
  const out: TestSet[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !e.name.endsWith(".csv")) continue;
    const csv = `${dir}/${e.name}`;
    const rows = await readSplitCsv(csv);
    const labels = new Set(rows.map((r) => r.label));
    const kind = labels.size === 2 ? "mixed" : labels.has(1) ? "fake" : "real";
    out.push({ name: e.name.slice(0, -4), csv, kind });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
