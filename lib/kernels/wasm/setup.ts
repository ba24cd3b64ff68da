/**
 * Initialises tfjs's wasm backend (XNNPACK, SIMD) under Deno: finds the `.wasm` binaries in the
 * project's `node_modules`, turns off the multi-threaded build (its emscripten pthread workers do
 * not start under Deno), registers the kit's missing kernels ({@linkcode registerWasmKernels}), the
 * native OpenBLAS / oneDNN kernels when a library is found ({@linkcode registerNativeKernels}; one
 * notice on stderr names a missing one), activates the backend and makes a failed heap allocation throw
 * ({@linkcode guardWasmMalloc}).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import * as wasm from "@tensorflow/tfjs-backend-wasm";
import { guardWasmMalloc } from "../../memory_budget.ts";
import { registerWasmKernels } from "./register.ts";
import { stockKernelsRequested } from "../stock_switch.ts";
import { registerNativeKernels, unregisterNativeKernels } from "../native/register.ts";
import { nativeBlasDisabled, nativeBlasLabel, nativeBlasProblem } from "../native/openblas.ts";
import { dnnlDisabled, dnnlLabel, dnnlProblem } from "../native/onednn.ts";

const BINARY = "tfjs-backend-wasm-simd.wasm";
const PACKAGE_DIST = "node_modules/@tensorflow/tfjs-backend-wasm/dist/";

let pathsSet = false;
let noticeShown = false;

/**
 * The folder (a `file:` URL ending in `/`) holding the wasm binaries: next to this module's project
 * root, else under the working directory. Throws naming the places looked at.
 */
export function wasmBinaryFolder(): string {
  const candidates: string[] = [];
  if (import.meta.url.startsWith("file:")) {
    candidates.push(new URL(`../../../${PACKAGE_DIST}`, import.meta.url).href);
  }
  candidates.push(new URL(PACKAGE_DIST, `file://${Deno.cwd()}/`).href);
  for (const c of candidates) {
    try {
      if (Deno.statSync(new URL(BINARY, c)).isFile) return c;
    } catch {
      // not there: try the next place
    }
  }
  throw new Error(
    `wasm backend: ${BINARY} not found (looked in ${candidates.join(", ")}); ` +
      "run from the project root after `deno install`, or use --backend webgpu|cpu",
  );
}

/**
 * The one-line notice for a native library that did not load (none for one turned off on purpose),
 * or "" when nothing is missing.
 */
function missingNativeNotice(): string {
  const blas = !nativeBlasLabel() && !nativeBlasDisabled();
  const dnnl = !dnnlLabel() && !dnnlDisabled();
  if (blas && dnnl) {
    return `wasm backend: native OpenBLAS and oneDNN not loaded (${nativeBlasProblem()}; ` +
      `${dnnlProblem()}); convolutions run in wasm, several times slower ` +
      "(apt-get install libopenblas0-pthread libdnnl2)";
  }
  if (blas) {
    return `wasm backend: native OpenBLAS not loaded (${nativeBlasProblem()}); convolutions run ` +
      "in oneDNN, matmuls in wasm (apt-get install libopenblas0-pthread)";
  }
  if (dnnl) {
    return `wasm backend: oneDNN not loaded (${dnnlProblem()}); convolutions run in OpenBLAS ` +
      "only (apt-get install libdnnl2)";
  }
  return "";
}

/**
 * Activates the wasm backend with the kit's extra kernels. Returns a label for the backend
 * (threads and SIMD). Idempotent.
 */
export async function setUpWasmBackend(): Promise<string> {
  if (!pathsSet) {
    // Emscripten's pthread workers fail under Deno (ERR_WORKER_PATH): single-threaded SIMD build.
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    wasm.setWasmPaths(wasmBinaryFolder());
    pathsSet = true;
  }
  const stock = stockKernelsRequested();
  if (stock) unregisterNativeKernels(); // before the stock kernels go back in place
  registerWasmKernels(stock);
  let native = "";
  if (!stock && registerNativeKernels()) {
    native = [nativeBlasLabel(), dnnlLabel()].filter((l) => l).map((l) => ` + ${l}`).join("");
  }
  if (!stock && !noticeShown) {
    const notice = missingNativeNotice();
    if (notice) {
      noticeShown = true;
      console.error(notice);
    }
  }
  if (!(await tf.setBackend("wasm"))) {
    throw new Error("wasm backend: tfjs failed to initialise the wasm backend");
  }
  await tf.ready();
  // A failed allocation throws instead of placing the tensor at address 0 (a corrupt heap).
  guardWasmMalloc(tf.backend());
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
  return `tfjs wasm (XNNPACK${simd ? ", SIMD" : ""}, ${wasm.getThreadsCount()} thread)${native}`;
}
