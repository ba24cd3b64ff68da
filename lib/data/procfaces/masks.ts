/**
 * Segmentation masks: the visible face region (face oval with its inner features, minus hair
 * that covers it). This is non-human auxiliary information: it says where the face is, never
 * where the artifacts are.
 *
 * @module
 */
import type { RenderedFace } from "./face.ts";
import { toU8 } from "./raster.ts";

/** The 8-bit face-region mask of a render (255 inside, anti-aliased edge). */
export function faceMaskU8(r: RenderedFace): Uint8Array {
  return toU8(r.faceMask);
}
