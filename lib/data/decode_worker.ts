/**
 * Worker entry of {@linkcode DecodePool} (lib/data/decode_pool.ts): decodes and resizes images
 * off the main thread. Messages in: {@linkcode DecodeRequest}; out: {@linkcode DecodeReply}, the
 * pixel buffer transferred (not copied).
 *
 * @module
 */
import { loadImageRgb, loadMapGray } from "./image.ts";

/** A job: an input image to `size × size` RGB, or a map to a `size × size` L grid. */
export interface DecodeRequest {
  /** Caller's job id, echoed in the reply. */
  id: number;
  /** `rgb` for {@linkcode loadImageRgb}, `map` for {@linkcode loadMapGray}. */
  kind: "rgb" | "map";
  /** Image file. */
  path: string;
  /** Target side. */
  size: number;
}

/** The result of a job: pixels, or the error message. */
export type DecodeReply =
  | { id: number; data: Uint8Array }
  | { id: number; error: string };

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<DecodeRequest>) => void) | null;
  postMessage(message: DecodeReply, transfer?: Transferable[]): void;
};

scope.onmessage = async (e: MessageEvent<DecodeRequest>) => {
  const { id, kind, path, size } = e.data;
  try {
    let data = kind === "rgb" ? await loadImageRgb(path, size) : await loadMapGray(path, size);
    // Transfer a buffer that holds exactly these pixels.
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice();
    scope.postMessage({ id, data }, [data.buffer as ArrayBuffer]);
  } catch (err) {
    scope.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
};
