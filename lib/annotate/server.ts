/**
 * The annotation server: a local web page (lib/annotate/page.ts) and its HTTP API over the items
 * of a split CSV. Routes (names percent-encoded in paths):
 *
 * | route                                           | what                                         |
 * | ----------------------------------------------- | -------------------------------------------- |
 * | `GET /annotate/<annotator>`                     | the page                                     |
 * | `GET /api/items?annotator=<a>`                  | items, in CSV order, with their status       |
 * | `GET /api/items/<name>/image`                   | the image file                               |
 * | `GET /api/maps/<annotator>/<name>`              | that annotator's saved map (404 when none)   |
 * | `PUT /api/maps/<annotator>/<name>`              | save a map: PNG body at the image's size     |
 * | `POST /api/judgments/<annotator>/<name>`        | `{"label": "Real"\|"Synthetic", "ms": n}`      |
 *
 * Guards: names are looked up among the CSV's items (anything else is 404), annotator names must
 * match `[A-Za-z0-9_-]{1,64}` (400), files are served and written only where their real path lies
 * inside the data root (403), bodies over `maxBodyBytes` are refused (413) before anything is
 * written, a map must be a PNG (signature checked, then decoded by sharp) of the image's width and
 * height (400). A stored map is re-encoded as 8-bit grayscale (the luma of what was sent).
 *
 * @module
 */
import sharp from "sharp";
import { decodeImage } from "../data/image.ts";
import { CLASS_NAMES } from "../data/types.ts";
import { annotatePageHtml } from "./page.ts";
import {
  type AnnotationItem,
  ANNOTATOR_RE,
  confinedRealPath,
  encodeGreyPng,
  listMapFiles,
  loadItems,
  mapFileName,
  mapPath,
  readJudgments,
  saveJudgment,
  saveMap,
} from "./store.ts";

/** Options of {@linkcode startAnnotateServer}. */
export interface AnnotateServerOptions {
  /** The data root (images, `heatmaps/`). */
  data: string;
  /** The split CSV whose `train` rows are annotated. */
  csv: string;
  /** The annotator `/` redirects to (optional). */
  annotator?: string;
  /** Host to bind (default `127.0.0.1`). */
  host?: string;
  /** Port (default 0: any free port). */
  port?: number;
  /** Largest accepted request body in bytes (default 16 MiB). */
  maxBodyBytes?: number;
}

/** A running annotation server. */
export interface AnnotateServer {
  /** Base URL, e.g. `http://127.0.0.1:8123`. */
  url: string;
  /** The bound port. */
  port: number;
  /** The items served. */
  items: readonly AnnotationItem[];
  /** Stops the server (waits for open requests). */
  shutdown(): Promise<void>;
}

/** The default body limit: 16 MiB. */
export const DEFAULT_MAX_BODY = 16 * 1024 * 1024;

/** The 8-byte PNG signature. */
export const PNG_SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const CONTENT_TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  gif: "image/gif",
  bmp: "image/bmp",
  tif: "image/tiff",
  tiff: "image/tiff",
};

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

/** Reads a request body, refusing (413) more than `limit` bytes (before reading, when declared). */
async function readBody(req: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    await req.body?.cancel().catch(() => {});
    throw new HttpError(413, `body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  }
  if (!req.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new HttpError(413, `body exceeds the limit of ${limit} bytes`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

/** True when `bytes` starts with the PNG signature. */
export function hasPngSignature(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/**
 * Checks an uploaded map (PNG signature, decodable by sharp, `width × height`) and re-encodes it as
 * an 8-bit grayscale PNG (Pillow's luma of colour input). Throws a 400 naming the problem.
 */
export async function normaliseMapPng(
  body: Uint8Array,
  width: number,
  height: number,
): Promise<Uint8Array> {
  if (!hasPngSignature(body)) throw new HttpError(400, "the body is not a PNG (bad signature)");
  let meta: { width?: number; height?: number; format?: string };
  try {
    meta = await sharp(body).metadata();
  } catch (e) {
    throw new HttpError(400, `the PNG does not decode: ${(e as Error).message}`);
  }
  if (meta.format !== "png") {
    throw new HttpError(400, `the body decodes as ${meta.format}, not PNG`);
  }
  if (meta.width !== width || meta.height !== height) {
    throw new HttpError(
      400,
      `the map is ${meta.width}×${meta.height}; the image is ${width}×${height}`,
    );
  }
  let grey;
  try {
    grey = await decodeImage(body, "L");
  } catch (e) {
    throw new HttpError(400, `the PNG does not decode: ${(e as Error).message}`);
  }
  return await encodeGreyPng(grey.data, width, height);
}

function decodeSegment(seg: string): string {
  try {
    return decodeURIComponent(seg);
  } catch {
    throw new HttpError(400, "bad percent-encoding in the path");
  }
}

function checkAnnotator(name: string): string {
  if (!ANNOTATOR_RE.test(name)) {
    throw new HttpError(400, `bad annotator name (allowed: [A-Za-z0-9_-]{1,64})`);
  }
  return name;
}

/** Starts the server; resolves once it listens. */
export async function startAnnotateServer(opts: AnnotateServerOptions): Promise<AnnotateServer> {
  const root = await Deno.realPath(opts.data).catch(() => {
    throw new Error(`--data: folder not found: ${opts.data}`);
  });
  if (!(await Deno.stat(root)).isDirectory) throw new Error(`--data: not a folder: ${opts.data}`);
  if (opts.annotator !== undefined && !ANNOTATOR_RE.test(opts.annotator)) {
    throw new Error(
      `--annotator: "${opts.annotator}" is not a valid name (letters, digits, _ and -, 1-64)`,
    );
  }
  const items = await loadItems(root, opts.csv);
  const byName = new Map(items.map((it) => [it.name, it]));
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const sizes = new Map<string, Promise<{ width: number; height: number }>>();

  const item = (seg: string): AnnotationItem => {
    const it = byName.get(decodeSegment(seg));
    if (!it) throw new HttpError(404, "no such item");
    return it;
  };
  const realImage = async (it: AnnotationItem): Promise<string> => {
    try {
      return await confinedRealPath(root, it.image);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new HttpError(404, "image file missing");
      throw new HttpError(403, "the image resolves outside the data root");
    }
  };
  const sizeOf = (it: AnnotationItem) => {
    let p = sizes.get(it.name);
    if (!p) {
      p = (async () => {
        const m = await sharp(await realImage(it)).metadata();
        return { width: m.width!, height: m.height! };
      })();
      p.catch(() => sizes.delete(it.name));
      sizes.set(it.name, p);
    }
    return p;
  };
  const guardWrite = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof HttpError) throw e;
      if (/outside the data root/.test((e as Error).message)) {
        throw new HttpError(403, "the annotator folder resolves outside the data root");
      }
      throw e;
    }
  };

  const route = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const parts = url.pathname.split("/").slice(1);
    const m = req.method;
    if (m === "GET" && url.pathname === "/") {
      if (!opts.annotator) {
        return new Response("open /annotate/<your name>\n", {
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      }
      return Response.redirect(`${url.origin}/annotate/${opts.annotator}`, 302);
    }
    if (m === "GET" && parts.length === 2 && parts[0] === "annotate") {
      checkAnnotator(decodeSegment(parts[1]));
      return new Response(annotatePageHtml(), {
        headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
      });
    }
    if (parts[0] !== "api") throw new HttpError(404, "not found");
    if (m === "GET" && parts.length === 2 && parts[1] === "items") {
      const who = url.searchParams.get("annotator");
      if (who !== null) checkAnnotator(who);
      const maps = who ? await listMapFiles(root, who) : new Set<string>();
      const judged = who ? await readJudgments(root, who) : new Map();
      const list = items.map((it, index) => {
        const j = judged.get(it.name);
        return {
          name: it.name,
          index,
          mapped: maps.has(mapFileName(it.name)),
          judged: j !== undefined,
          judgment: j?.label ?? null,
        };
      });
      return json({
        annotator: who,
        total: items.length,
        done: list.filter((x) => x.mapped).length,
        items: list,
      });
    }
    if (m === "GET" && parts.length === 4 && parts[1] === "items" && parts[3] === "image") {
      const it = item(parts[2]);
      const file = await realImage(it);
      const ext = file.slice(file.lastIndexOf(".") + 1).toLowerCase();
      const { width, height } = await sizeOf(it);
      return new Response(await Deno.readFile(file), {
        headers: {
          "content-type": CONTENT_TYPES[ext] ?? "application/octet-stream",
          "x-image-width": String(width),
          "x-image-height": String(height),
        },
      });
    }
    if (parts.length === 4 && parts[1] === "maps") {
      const who = checkAnnotator(decodeSegment(parts[2]));
      const it = item(parts[3]);
      if (m === "GET") {
        const p = await mapPath(root, who, it.name);
        if (!p) throw new HttpError(404, "no map yet");
        return new Response(await Deno.readFile(p), {
          headers: { "content-type": "image/png", "cache-control": "no-store" },
        });
      }
      if (m === "PUT") {
        const body = await readBody(req, limit);
        const { width, height } = await sizeOf(it);
        const png = await normaliseMapPng(body, width, height);
        await guardWrite(() => saveMap(root, who, it.name, png));
        return json({ ok: true, name: it.name, width, height });
      }
      throw new HttpError(405, "method not allowed");
    }
    if (parts.length === 4 && parts[1] === "judgments") {
      if (m !== "POST") throw new HttpError(405, "method not allowed");
      const who = checkAnnotator(decodeSegment(parts[2]));
      const it = item(parts[3]);
      const body = await readBody(req, Math.min(limit, 4096));
      let value: { label?: unknown; ms?: unknown };
      try {
        value = JSON.parse(new TextDecoder().decode(body));
      } catch {
        throw new HttpError(400, "the body is not JSON");
      }
      const label = value?.label;
      const ms = value?.ms;
      if (typeof label !== "string" || !(CLASS_NAMES as readonly string[]).includes(label)) {
        throw new HttpError(400, `label must be "Real" or "Synthetic"`);
      }
      if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
        throw new HttpError(400, "ms must be a non-negative number");
      }
      await guardWrite(() =>
        saveJudgment(root, who, {
          image: it.name,
          label: label as (typeof CLASS_NAMES)[number],
          ms: Math.round(ms),
          answeredAt: new Date().toISOString(),
        })
      );
      return json({ ok: true });
    }
    throw new HttpError(404, "not found");
  };

  const handler = async (req: Request): Promise<Response> => {
    try {
      return await route(req);
    } catch (e) {
      if (e instanceof HttpError) return json({ error: e.message }, e.status);
      console.error(
        `annotate: ${req.method} ${new URL(req.url).pathname}: ${(e as Error).message}`,
      );
      return json({ error: "internal error" }, 500);
    }
  };

  const { promise: listening, resolve: onListen } = Promise.withResolvers<Deno.NetAddr>();
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname: opts.host ?? "127.0.0.1",
      port: opts.port ?? 0,
      onListen: (addr) => onListen(addr as Deno.NetAddr),
    }, handler);
  } catch (e) {
    throw new Error(
      `--port ${opts.port ?? 0} / --host ${opts.host ?? "127.0.0.1"}: cannot listen: ${
        (e as Error).message
      }`,
    );
  }
  const addr = await listening;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    items,
    shutdown: async () => {
      await server.shutdown();
    },
  };
}
