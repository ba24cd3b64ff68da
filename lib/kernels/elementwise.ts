/**
 * A flat elementwise WebGPU program: one invocation per output element, inputs read at the same
 * flat index (or at `index % C` for per-channel vectors, or at 0 for scalars), float32 uniforms.
 * The kit's fused update kernels are instances of it.
 *
 * @module
 */

/** A flat elementwise program with a WGSL expression body. */
export class ElementwiseProgram {
  /** Input binding names. */
  variableNames: string[];
  /** Output shape. */
  outputShape: number[];
  /** Shader cache key. */
  shaderKey: string;
  /** All output dims on x. */
  dispatchLayout: { x: number[] };
  /** Workgroup counts. */
  dispatch: [number, number, number];
  /** 64 invocations per workgroup. */
  workgroupSize: [number, number, number] = [64, 1, 1];
  /** Program uniforms (after tfjs's shape fields and `size`). */
  uniforms: string;
  /** tfjs appends the `size` uniform. */
  size = true;
  readonly #body: string;

  /**
   * @param key shader cache key
   * @param variableNames input names
   * @param shape output shape
   * @param uniforms WGSL uniform members, e.g. `momentum : f32,`
   * @param body WGSL statements computing `let value : f32` from `index` and the inputs
   */
  constructor(
    key: string,
    variableNames: string[],
    shape: number[],
    uniforms: string,
    body: string,
  ) {
    this.shaderKey = `kitElementwise_${key}`;
    this.variableNames = variableNames;
    this.outputShape = shape;
    this.dispatchLayout = { x: shape.map((_, i) => i) };
    const n = shape.reduce((a, b) => a * b, 1);
    this.dispatch = [Math.ceil(n / 64), 1, 1];
    this.uniforms = uniforms;
    this.#body = body;
  }

  /** The WGSL body. */
  getUserCode(): string {
    return `
fn main(index : i32) {
  if (index < uniforms.size) {
    ${this.#body}
    result[index] = value;
  }
}
`;
  }
}
