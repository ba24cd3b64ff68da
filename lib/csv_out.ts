/**
 * Writing CSV: quoting one field, and appending rows to a results table whose header is checked.
 * The benchmarks' result tables (bench/results/*.csv) and `deno task score` use it.
 *
 * @module
 */
import { writeAtomic } from "./run_dir.ts";

/** A CSV field: quoted (with `"` doubled) when it holds a comma, quote or line break. */
export function csvField(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * Appends rows to a CSV file (the header is written when the file is new; the folder is created),
 * rewriting it atomically so a crash never leaves it half-written. A file whose first line is not
 * `header` is refused with an error naming it (`path:1`), and left as it is.
 */
export async function appendCsv(path: string, header: string, rows: string[]): Promise<void> {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  await Deno.mkdir(dir, { recursive: true });
  let existing = "";
  try {
    existing = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (existing && !existing.startsWith(header)) {
    throw new Error(`${path}:1: header differs from this benchmark's; move the old file away`);
  }
  await writeAtomic(path, (existing || header + "\n") + rows.map((r) => r + "\n").join(""));
}
