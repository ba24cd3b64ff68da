/**
 * The few assertions these tests use, on top of `node:assert/strict` (no `@std` without jsr).
 *
 * @module
 */
import assert from "node:assert/strict";

/** Deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (message === undefined) assert.deepStrictEqual(actual, expected);
  else assert.deepStrictEqual(actual, expected, message);
}

/** `fn` throws an instance of `cls` whose message contains `includes`. */
export function assertThrows(fn: () => unknown, cls: ErrorConstructor, includes: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
    assert.ok(
      (e as Error).message.includes(includes),
      `message ${JSON.stringify((e as Error).message)} lacks ${JSON.stringify(includes)}`,
    );
    return true;
  });
}

/** `fn` rejects with an instance of `cls` whose message contains `includes`; returns the error. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  cls: ErrorConstructor,
  includes: string,
): Promise<Error> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected a rejection containing ${JSON.stringify(includes)}`);
  assert.ok(caught instanceof cls, `expected ${cls.name}, got ${caught}`);
  assert.ok(
    (caught as Error).message.includes(includes),
    `message ${JSON.stringify((caught as Error).message)} lacks ${JSON.stringify(includes)}`,
  );
  return caught as Error;
}
