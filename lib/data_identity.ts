/**
 * Which data an experiment folder's runs were trained on. Each variant folder of an experiment
 * (`<out>/<variant>/`) records the identity of its data root in `data_identity.json` when it is
 * first written; a later run of the experiment on different data (the benchmark regenerated with
 * another generator, another `--data`) is refused instead of silently scoring models trained on
 * the old data against the new test sets. `--fresh` moves the stale folder aside
 * (`<out>.stale/<variant>-<old identity>`; nothing is deleted) and retrains.
 *
 * The identity of the embedded benchmark is the content digest its generator writes to
 * `COMPLETE.json`; of any other root (the paper's layout), a SHA-256 of its CSV files.
 *
 * @module
 */
import { COMPLETE_MARKER } from "./data/procfaces/writer.ts";
import { exists, readJsonIfExists, writeJson } from "./run_dir.ts";

/** The file in `<out>/<variant>/` that records the data identity. */
export const DATA_IDENTITY_FILE = "data_identity.json";

/** What `data_identity.json` holds. */
export interface DataIdentityRecord {
  /** `procfaces:<digest>` or `csv:<sha-256 prefix>`. */
  identity: string;
  /** The data root it was read from. */
  root: string;
  /** When it was recorded (ISO 8601). */
  recorded: string;
}

async function listCsvs(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) out.push(...(await listCsvs(`${dir}/${e.name}`)));
      else if (e.name.endsWith(".csv")) out.push(`${dir}/${e.name}`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/**
 * The identity of a data root: `procfaces:<digest>` from its `COMPLETE.json`, else
 * `csv:<first 16 hex digits of a SHA-256 over the names and bytes of csvs/**.csv>`.
 */
export async function dataIdentity(root: string): Promise<string> {
  const complete = await readJsonIfExists<{ digest?: string }>(`${root}/${COMPLETE_MARKER}`);
  if (complete?.digest) return `procfaces:${complete.digest}`;
  const files = await listCsvs(`${root}/csvs`);
  if (files.length === 0) {
    throw new Error(`${root}/csvs: no CSV files (expected the paper's layout)`);
  }
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const f of files) {
    parts.push(
      enc.encode(`${f.slice(root.length + 1)}\0`),
      await Deno.readFile(f),
      enc.encode("\0"),
    );
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return `csv:${Array.from(hash.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Checks (and on first use records) that `<out>/<variant.name>` holds runs trained on the data at
 * `variant.root`. On a mismatch it throws an error naming the folder, both identities and the way
 * out, unless `fresh`, which moves the folder to `<out>.stale/<variant>-<old identity>` first. A
 * folder with runs but no record (made before identities were recorded) is adopted, with a note
 * through `log`.
 */
export async function checkDataIdentity(
  out: string,
  variant: { name: string; root: string },
  opts: { fresh?: boolean; log?: (line: string) => void } = {},
): Promise<void> {
  const dir = `${out}/${variant.name}`;
  const path = `${dir}/${DATA_IDENTITY_FILE}`;
  const identity = await dataIdentity(variant.root);
  const prev = await readJsonIfExists<DataIdentityRecord>(path);
  if (prev && prev.identity !== identity) {
    const tag = prev.identity.replace(/^[a-z]+:/, "").slice(0, 12);
    let stale = `${out}.stale/${variant.name}-${tag}`;
    for (let i = 2; await exists(stale); i++) stale = `${out}.stale/${variant.name}-${tag}-${i}`;
    if (!opts.fresh) {
      throw new Error(
        `${dir}: its runs were trained on other data (${prev.identity}, from ${prev.root}); ` +
          `${variant.root} is now ${identity}. Rerun with fresh (--fresh) to move them to ` +
          `${stale} and retrain, or write the experiment elsewhere (out, --out).`,
      );
    }
    await Deno.mkdir(`${out}.stale`, { recursive: true });
    await Deno.rename(dir, stale);
    opts.log?.(`${dir}: trained on other data, moved to ${stale}`);
  } else if (prev) {
    return;
  } else if (await exists(dir)) {
    opts.log?.(
      `note: ${dir} has no ${DATA_IDENTITY_FILE} (made before data identities were recorded); ` +
        `assuming its runs were trained on the current data (${identity})`,
    );
  }
  await Deno.mkdir(dir, { recursive: true });
  await writeJson(path, { identity, root: variant.root, recorded: new Date().toISOString() });
}
