/**
 * Showing Plotly figures without a network: self-contained HTML (plotly.js inlined from the npm
 * package `plotly.js-dist-min`) and Jupyter MIME bundles for the Deno kernel.
 *
 * A bundle carries `application/vnd.plotly.v1+json` (rendered natively by VS Code and by
 * JupyterLab with the plotly renderer) plus a `text/html` fallback (classic notebook, JupyterLab
 * without the extension, nbconvert's HTML export). plotly.js is ~4.8 MB, so by default it is
 * inlined once per kernel session: the first displayed figure carries it, and later figures'
 * HTML waits (polling, up to 60 s) for `window.Plotly`. This works wherever outputs share one
 * page (JupyterLab, classic notebook, VS Code's output webview, exported HTML) as long as the
 * first figure's output is kept; when it is cleared, call {@linkcode resetPlotlyDelivery} (or
 * pass `inlinePlotly: "always"`, or set `CYBORG_PLOTLY_INLINE=always`) before displaying again.
 *
 * Every display waits until the kernel has published it ({@linkcode flushIopub}), so that a cell's
 * figures leave the kernel before the cell reports idle, attributed to that cell, also when a
 * frontend runs all cells back-to-back ("Run All").
 *
 * @module
 */
import { flushIopub } from "../jupyter_iopub.ts";

/** A Plotly trace: any object Plotly accepts in `data`. */
export type Trace = Record<string, unknown>;

/** A Plotly figure spec, JSON-serialisable: `Plotly.newPlot(div, data, layout, config)`. */
export interface Figure {
  /** Traces. */
  data: Trace[];
  /** Layout (title, axes, shapes, images, ...). */
  layout: Record<string, unknown>;
  /** Plot config; {@linkcode DEFAULT_CONFIG} is merged under it. */
  config?: Record<string, unknown>;
}

/** The MIME type of Plotly figure JSON in Jupyter. */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/** Config applied to every figure: responsive, no plotly.com logo/link in the mode bar. */
export const DEFAULT_CONFIG: Readonly<Record<string, unknown>> = {
  responsive: true,
  displaylogo: false,
  showLink: false,
};

let plotlySource: string | undefined;
let plotlyPathCache: string | undefined;

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function fromUrl(url: string): string {
  return decodeURIComponent(new URL(url).pathname);
}

function join(...parts: string[]): string {
  return parts.join("/").replace(/\/+/g, "/");
}

function parentDirs(start: string): string[] {
  const out: string[] = [];
  let dir = start.replace(/\/+$/, "");
  while (dir) {
    out.push(dir);
    const up = dir.slice(0, dir.lastIndexOf("/"));
    if (up === dir) break;
    dir = up;
  }
  return out;
}

/**
 * Absolute path of `plotly.min.js`. Looks, in order, at `CYBORG_PLOTLY_JS`, the deno.json import
 * `plotly.js-dist-min` (`import.meta.resolve`, a file under node_modules with nodeModulesDir
 * "auto"), `node_modules/plotly.js-dist-min/` above the current directory and above this file,
 * then Deno's npm cache (`DENO_DIR` or ~/.cache/deno). Throws, listing what it tried.
 */
export function plotlyJsPath(): string {
  if (plotlyPathCache) return plotlyPathCache;
  const tried: string[] = [];
  const env = Deno.env.get("CYBORG_PLOTLY_JS");
  if (env) {
    if (exists(env)) return (plotlyPathCache = env);
    throw new Error(`CYBORG_PLOTLY_JS=${env}: no such file`);
  }
  const candidates: string[] = [];
  try {
    const resolved = import.meta.resolve("plotly.js-dist-min");
    if (resolved.startsWith("file:")) candidates.push(fromUrl(resolved));
    else tried.push(`import.meta.resolve → ${resolved}`);
  } catch (e) {
    tried.push(`import.meta.resolve: ${(e as Error).message}`);
  }
  const here = import.meta.url.startsWith("file:")
    ? fromUrl(new URL(".", import.meta.url).href)
    : "";
  for (const base of [Deno.cwd(), here]) {
    if (!base) continue;
    for (const dir of parentDirs(base)) {
      candidates.push(join(dir, "node_modules/plotly.js-dist-min/plotly.min.js"));
    }
  }
  const home = Deno.env.get("HOME");
  const denoDir = Deno.env.get("DENO_DIR") ?? (home ? join(home, ".cache/deno") : undefined);
  if (denoDir) {
    const pkgDir = join(denoDir, "npm/registry.npmjs.org/plotly.js-dist-min");
    try {
      const versions = [...Deno.readDirSync(pkgDir)].map((e) => e.name).sort().reverse();
      for (const v of versions) candidates.push(join(pkgDir, v, "plotly.min.js"));
    } catch {
      tried.push(pkgDir);
    }
  }
  for (const c of candidates) {
    if (exists(c)) return (plotlyPathCache = c);
    tried.push(c);
  }
  throw new Error(
    'plotly.js not found: add `"plotly.js-dist-min": "npm:plotly.js-dist-min@4.1.2"` to ' +
      "deno.json imports and run `deno install` (or set CYBORG_PLOTLY_JS). Tried:\n  " +
      [...new Set(tried)].join("\n  "),
  );
}

/** The plotly.js bundle's source text (read once, cached). */
export async function plotlyJs(): Promise<string> {
  if (plotlySource === undefined) {
    const src = await Deno.readTextFile(plotlyJsPath());
    if (/<\/script/i.test(src)) {
      throw new Error(`${plotlyJsPath()}: contains "</script", cannot be inlined`);
    }
    plotlySource = src;
  }
  return plotlySource;
}

/** JSON for embedding inside a `<script>` element (`<`, U+2028 and U+2029 escaped). */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** The figure with {@linkcode DEFAULT_CONFIG} merged under its own config. */
export function withDefaults(fig: Figure): Required<Figure> {
  return { data: fig.data, layout: fig.layout, config: { ...DEFAULT_CONFIG, ...fig.config } };
}

/** A `<script>` element defining `window.Plotly` (skipped when it already exists). */
export async function plotlyScriptTag(): Promise<string> {
  return `<script type="text/javascript">if (!window.Plotly) {\n${await plotlyJs()}\n}</script>`;
}

let idCounter = 0;

/** Options of {@linkcode figureHtml}. */
export interface FigureHtmlOptions {
  /** Inline plotly.js before the figure (default false: wait for `window.Plotly`). */
  includePlotly?: boolean;
  /** Element id (default: a fresh `cyborg-plot-…` id). */
  id?: string;
  /** CSS height when the layout has none (default 450px). */
  height?: number;
}

/**
 * An HTML fragment drawing the figure: a `<div>` and a script that calls `Plotly.newPlot` once
 * `window.Plotly` exists (polling up to 60 s, then writing a message into the div).
 */
export async function figureHtml(fig: Figure, options: FigureHtmlOptions = {}): Promise<string> {
  const id = options.id ?? `cyborg-plot-${Date.now().toString(36)}-${(idCounter++).toString(36)}`;
  const full = withDefaults(fig);
  const layoutHeight = typeof full.layout.height === "number" ? full.layout.height : undefined;
  const height = layoutHeight ?? options.height ?? 450;
  const lib = options.includePlotly ? await plotlyScriptTag() + "\n" : "";
  return `${lib}<div id="${
    escapeHtml(id)
  }" class="cyborg-plot" style="width:100%;height:${height}px;"></div>
<script type="text/javascript">(function () {
  var spec = ${scriptJson(full)};
  var id = ${scriptJson(id)};
  var t0 = Date.now();
  function draw() {
    var el = document.getElementById(id);
    if (!el) return;
    if (!window.Plotly) {
      if (Date.now() - t0 > 60000) {
        el.textContent = "plotly.js is not loaded on this page: re-run the first plotting cell " +
          "or display with inlinePlotly \\"always\\".";
        return;
      }
      setTimeout(draw, 50);
      return;
    }
    window.Plotly.newPlot(el, spec.data, spec.layout, spec.config);
  }
  draw();
})();</script>`;
}

/** When plotly.js goes into a displayed figure's HTML. */
export type InlinePlotly = "once" | "always" | "never";

let plotlyDelivered = false;

/** Forgets that plotly.js was already sent, so the next displayed figure inlines it again. */
export function resetPlotlyDelivery(): void {
  plotlyDelivered = false;
}

/** Options of {@linkcode mimeBundle} and {@linkcode display}. */
export interface DisplayOptions {
  /**
   * `once` (default; `CYBORG_PLOTLY_INLINE` overrides): inline plotly.js in the first figure of
   * the session only; `always`: in every figure; `never`: rely on a page that has it.
   */
  inlinePlotly?: InlinePlotly;
}

function inlineMode(options: DisplayOptions): InlinePlotly {
  const env = Deno.env.get("CYBORG_PLOTLY_INLINE");
  const mode = options.inlinePlotly ?? (env as InlinePlotly | undefined) ?? "once";
  if (mode !== "once" && mode !== "always" && mode !== "never") {
    throw new Error(
      `${options.inlinePlotly ? "inlinePlotly" : "CYBORG_PLOTLY_INLINE"}: "${mode}" is not ` +
        `one of once, always, never`,
    );
  }
  return mode;
}

/** A Jupyter MIME bundle. */
export type MimeBundle = Record<string, string | object>;

/**
 * The MIME bundle for a figure: Plotly JSON, a self-contained HTML fallback and a text line.
 * With `inlinePlotly: "once"` this marks plotly.js as delivered.
 */
export async function mimeBundle(fig: Figure, options: DisplayOptions = {}): Promise<MimeBundle> {
  const mode = inlineMode(options);
  const include = mode === "always" || (mode === "once" && !plotlyDelivered);
  const html = await figureHtml(fig, { includePlotly: include });
  if (include) plotlyDelivered = true;
  const full = withDefaults(fig);
  const title = full.layout.title as { text?: string } | string | undefined;
  const titleText = typeof title === "string" ? title : title?.text ?? "untitled";
  return {
    [PLOTLY_MIME]: full,
    "text/html": html,
    "text/plain": `Plotly figure: ${titleText} (${full.data.length} traces)`,
  };
}

interface JupyterApi {
  display(obj: unknown, options?: { raw?: boolean }): Promise<void>;
}

function jupyter(): JupyterApi | undefined {
  try {
    return (Deno as unknown as { jupyter?: JupyterApi }).jupyter;
  } catch {
    return undefined;
  }
}

/** True inside the Deno Jupyter kernel (`deno jupyter`). */
export function inJupyter(): boolean {
  return jupyter() !== undefined;
}

const NOT_JUPYTER =
  "display(): not running in the Deno Jupyter kernel; use figureHtml() or lib/report/html.ts";

/**
 * Publishes a raw MIME bundle in the Deno Jupyter kernel and waits until the kernel has sent it
 * ({@linkcode flushIopub}); throws outside Jupyter.
 */
export async function displayBundle(bundle: MimeBundle): Promise<void> {
  const api = jupyter();
  if (!api) throw new Error(NOT_JUPYTER);
  await api.display(bundle, { raw: true });
  await flushIopub();
}

/**
 * Publishes the figure in the Deno Jupyter kernel (`Deno.jupyter.display(bundle, {raw: true})`).
 * Outside Jupyter it throws (before marking plotly.js as delivered); use
 * {@linkcode figureHtml} or `lib/report/html.ts` there.
 */
export async function display(fig: Figure, options: DisplayOptions = {}): Promise<void> {
  if (!inJupyter()) throw new Error(NOT_JUPYTER);
  await displayBundle(await mimeBundle(fig, options));
}

/**
 * Wraps a figure so that, as the last expression of a notebook cell, the kernel shows it
 * (the `Symbol.for("Jupyter.display")` protocol) as the cell's execute_result. In the kernel,
 * the cell's earlier outputs are flushed first ({@linkcode flushIopub}), and plotly.js, when due,
 * goes out as a display_data of its own (a `<script>`, waited for) before the figure. The
 * execute_result itself is published by Deno's kernel after the cell's code has ended, and under
 * "Run All" it can arrive after the cell's `status: idle` (the classic notebook then misplaces or
 * drops it); that holds for any value a cell ends with. Notebooks that must survive Run All end
 * their cells with `await display(fig)` instead.
 */
export function displayable(
  fig: Figure,
  options: DisplayOptions = {},
): Figure & { [key: symbol]: () => Promise<MimeBundle> } {
  const show = async (): Promise<MimeBundle> => {
    if (!inJupyter()) return await mimeBundle(fig, options);
    await flushIopub();
    const mode = inlineMode(options);
    if (mode === "always" || (mode === "once" && !plotlyDelivered)) {
      await displayBundle({ "text/html": await plotlyScriptTag() });
      if (mode === "once") plotlyDelivered = true;
    }
    return await mimeBundle(fig, { ...options, inlinePlotly: "never" });
  };
  return { ...fig, [Symbol.for("Jupyter.display")]: show };
}
