/**
 * Collecting every problem with a run's inputs before reporting them together, instead of
 * stopping at the first.
 *
 * @module
 */

/**
 * A list of problem messages and `attempt(fn)`, which runs `fn` and, when it throws, records the
 * error's message and resolves to `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { problemCollector } from "./problems.ts";
 * const { problems, attempt } = problemCollector();
 * const ok = await attempt(() => Promise.resolve(1));
 * const bad = await attempt(() => Promise.reject(new Error("csv: no such file")));
 * assert.deepEqual([ok, bad, problems], [1, undefined, ["csv: no such file"]]);
 * ```
 */
export function problemCollector(): {
  problems: string[];
  attempt: <T>(fn: () => Promise<T>) => Promise<T | undefined>;
} {
  const problems: string[] = [];
  const attempt = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      problems.push((e as Error).message);
      return undefined;
    }
  };
  return { problems, attempt };
}
