/**
 * Registers tfjs's gradient functions. `@tensorflow/tfjs-core` ships them only as extension-less
 * ES modules (`dist/register_all_gradients`) that Deno cannot resolve; the union package's bundle
 * registers all of them into tfjs's global gradient registry when it loads, which is the only
 * effect the kit uses it for.
 *
 * @module
 */
import "@tensorflow/tfjs";
