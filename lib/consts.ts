/**
 * Cached scalar constants. Passing a JS number to a tfjs op uploads a fresh scalar tensor every
 * call (on WebGPU: a new mapped staging buffer per call); hot paths use `c(value)` instead, which
 * returns one kept scalar per value and backend.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

const cache = new Map<string, tf.Scalar>();

/** A kept float32 scalar tensor holding `value` on the current backend (created once). */
export function c(value: number): tf.Scalar {
  const key = `${tf.getBackend()}:${value}`;
  let t = cache.get(key);
  if (!t || t.isDisposed) {
    t = tf.keep(tf.scalar(value, "float32"));
    cache.set(key, t);
  }
  return t;
}
