/**
 * `deno task annotate`: collect human saliency maps in the paper's format.
 *
 *   deno task annotate --data ROOT [--csv ROOT/csvs/original.csv] --annotator NAME \
 *     [--port 8737] [--host 127.0.0.1]
 *   deno task annotate --merge --data ROOT [--csv ...] [--force]
 *
 * The first serves the annotation page for the CSV's training images and prints its URL; maps go
 * to `ROOT/heatmaps/annotators/NAME/`. The second averages every annotator's maps into
 * `ROOT/heatmaps/` (what training reads) and reports coverage, agreement and judgment accuracy.
 * See lib/annotate/ and the README ("Collecting human saliency maps").
 *
 * @module
 */
import { join } from "node:path";
import { type OptionSpec, parseArgs, runCli } from "../lib/cli_args.ts";
import { mergeAnnotations, mergeReport } from "../lib/annotate/merge.ts";
import { startAnnotateServer } from "../lib/annotate/server.ts";
import { checkAnnotatorName } from "../lib/annotate/store.ts";

/** The options of `deno task annotate`. */
export const ANNOTATE_OPTIONS: OptionSpec[] = [
  { name: "data", type: "string", help: "data root (images, heatmaps/)" },
  {
    name: "csv",
    type: "string",
    help: "split CSV whose train rows are annotated (default <data>/csvs/original.csv)",
  },
  { name: "annotator", type: "string", help: "your name ([A-Za-z0-9_-], 1-64 characters)" },
  { name: "port", type: "number", help: "port to serve on (0: any free port)", default: 8737 },
  { name: "host", type: "string", help: "address to bind", default: "127.0.0.1" },
  { name: "merge", type: "boolean", help: "average the annotators' maps into <data>/heatmaps/" },
  { name: "force", type: "boolean", help: "with --merge: overwrite maps no merge wrote" },
];

const USAGE =
  "deno task annotate --data ROOT --annotator NAME [--csv CSV] [--port N] [--host H]\n" +
  "       deno task annotate --merge --data ROOT [--csv CSV] [--force]";

async function main(args: string[]): Promise<void> {
  const a = parseArgs(args, ANNOTATE_OPTIONS, USAGE);
  if (typeof a.data !== "string") throw new Error("--data is required (see --help)");
  const csv = typeof a.csv === "string" ? a.csv : join(a.data, "csvs", "original.csv");
  if (!(await Deno.stat(a.data).then((st) => st.isDirectory, () => false))) {
    throw new Error(`--data: folder not found: ${a.data}`);
  }
  if (!(await Deno.stat(csv).then((st) => st.isFile, () => false))) {
    throw new Error(
      `--csv: file not found: ${csv}${typeof a.csv === "string" ? "" : " (the default)"}`,
    );
  }
  if (a.merge) {
    if (a.annotator !== undefined) throw new Error("--annotator is not used with --merge");
    const summary = await mergeAnnotations({ data: a.data, csv, force: Boolean(a.force) });
    console.log(mergeReport(summary));
    return;
  }
  if (a.force) throw new Error("--force only applies to --merge");
  if (typeof a.annotator !== "string") throw new Error("--annotator is required (see --help)");
  checkAnnotatorName(a.annotator);
  const port = a.port as number;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port: must be an integer in 0..65535 (got ${port})`);
  }
  const server = await startAnnotateServer({
    data: a.data,
    csv,
    annotator: a.annotator,
    host: a.host as string,
    port,
  });
  console.log(
    `annotate: ${server.items.length} training images of ${csv}\n` +
      `open ${server.url}/annotate/${a.annotator}  (Ctrl+C to stop)`,
  );
  const stop = async () => {
    await server.shutdown();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

if (import.meta.main) await runCli(() => main(Deno.args), "annotate");
