/**
 * The paper's split CSVs (`original.csv`, `large_dataset_7x.csv`, the per-generator test CSVs):
 * no header, one sample per line, `train|test,Real|Synthetic,/relative/path.png`. The path is
 * relative to the image root; a leading `/` does not mean the filesystem root.
 *
 * Tolerated: blank lines, CRLF line ends, a UTF-8 byte order mark, spaces around fields, and
 * RFC 4180 double-quoted fields (for paths holding a comma). Anything else is an error naming
 * `file:line`.
 *
 * @module
 */
import { CLASS_NAMES, type Label, type SampleRef } from "./types.ts";

const SPLITS = ["train", "test"] as const;

/** Splits one CSV line into fields (RFC 4180 quoting, no embedded line breaks). */
export function splitCsvLine(line: string, where: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === " " || line[i] === "\t") i++;
    if (line[i] === '"') {
      let value = "";
      i++;
      for (;;) {
        if (i >= line.length) throw new Error(`${where}: unterminated quoted field`);
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += line[i++];
      }
      while (line[i] === " " || line[i] === "\t") i++;
      if (i < line.length && line[i] !== ",") {
        throw new Error(`${where}: unexpected text after a quoted field`);
      }
      fields.push(value);
    } else {
      const end = line.indexOf(",", i);
      const stop = end < 0 ? line.length : end;
      fields.push(line.slice(i, stop).trim());
      i = stop;
    }
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

/**
 * Parses the text of a split CSV. `file` is only used in error messages and in the returned
 * refs' `csv` field. Every bad line is reported (one error listing them, each as `file:line`).
 */
export function parseSplitCsv(text: string, file: string): SampleRef[] {
  const rows: SampleRef[] = [];
  const problems: string[] = [];
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, "");
    if (line.trim() === "") continue;
    try {
      rows.push(parseRow(line, file, i + 1));
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  if (problems.length === 1) throw new Error(problems[0]);
  if (problems.length) {
    const shown = problems.slice(0, 20).join("\n  ");
    const more = problems.length > 20 ? `\n  ... and ${problems.length - 20} more` : "";
    throw new Error(`${file}: ${problems.length} bad lines:\n  ${shown}${more}`);
  }
  return rows;
}

/** One non-blank line of a split CSV (errors name `file:line`). */
function parseRow(line: string, file: string, lineNo: number): SampleRef {
  const where = `${file}:${lineNo}`;
  const f = splitCsvLine(line, where);
  if (f.length !== 3) {
    throw new Error(
      `${where}: expected 3 columns (split,label,path), found ${f.length}: ${JSON.stringify(line)}`,
    );
  }
  const [split, labelName, path] = f;
  if (!(SPLITS as readonly string[]).includes(split)) {
    throw new Error(`${where}: unknown split "${split}" (expected "train" or "test")`);
  }
  const label = (CLASS_NAMES as readonly string[]).indexOf(labelName);
  if (label < 0) {
    throw new Error(
      `${where}: unknown label "${labelName}" (expected ${
        CLASS_NAMES.map((c) => `"${c}"`).join(" or ")
      })`,
    );
  }
  if (path === "") throw new Error(`${where}: empty image path`);
  return {
    split: split as SampleRef["split"],
    label: label as Label,
    path,
    csv: file,
    line: lineNo,
  };
}

/** Reads a split CSV (all rows, both splits, in file order). Errors name `file:line`. */
export async function readSplitCsv(path: string): Promise<SampleRef[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read the split CSV: ${(e as Error).message}`);
  }
  return parseSplitCsv(text, path);
}
