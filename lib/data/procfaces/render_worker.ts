/**
 * Module worker that renders benchmark items off the main thread. Receives
 * `{ id, seed, size, shortcut, items }` and answers `{ id, results }` (pixel buffers transferred)
 * or `{ id, error }`.
 *
 * @module
 */
import type { PlannedItem } from "./layout.ts";
import { type RenderedItem, renderItem } from "./sample.ts";
import type { ShortcutSpec } from "./shortcut.ts";

/** A render request. */
export interface RenderRequest {
  /** Request id, echoed back. */
  id: number;
  /** Dataset seed. */
  seed: number;
  /** Image side. */
  size: number;
  /** Shortcut spec, or null for none. */
  shortcut: ShortcutSpec | null;
  /** Items to render. */
  items: PlannedItem[];
}

/** A render answer. */
export interface RenderResponse {
  /** The request id. */
  id: number;
  /** Rendered items, in request order. */
  results?: RenderedItem[];
  /** Error message, when rendering failed. */
  error?: string;
}

const self = globalThis as unknown as {
  onmessage: ((e: MessageEvent<RenderRequest>) => void) | null;
  postMessage(msg: RenderResponse, transfer?: Transferable[]): void;
};

self.onmessage = (e: MessageEvent<RenderRequest>) => {
  const { id, seed, size, shortcut, items } = e.data;
  try {
    const results = items.map((it) => renderItem(seed, it, size, shortcut));
    const transfer: Transferable[] = [];
    for (const r of results) {
      for (const a of [r.rgb, r.mask, r.rgbShortcut, r.heatmap]) {
        if (a) transfer.push(a.buffer as ArrayBuffer);
      }
    }
    self.postMessage({ id, results }, transfer);
  } catch (err) {
    self.postMessage({ id, error: err instanceof Error ? err.stack ?? err.message : String(err) });
  }
};
