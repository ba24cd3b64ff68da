import assert from "node:assert/strict";
import { PickleWriter, type PyValue, unpickle } from "../../lib/pth/pickle.ts";

const FIX = new URL("../fixtures/pth/", import.meta.url).pathname;

/** PLAIN_VALUES of tools/fixtures/make_pth_fixtures.py as the unpickler builds it. */
function plainValues(): Map<PyValue, PyValue> {
  const shared = ["same"];
  return new Map<PyValue, PyValue>([
    ["int", [
      0,
      1,
      255,
      256,
      65535,
      65536,
      -1,
      -(2 ** 31),
      2 ** 31,
      2n ** 62n,
      -(2n ** 63n),
      2n ** 70n,
    ]],
    ["float", [0, -1.5, 1e-300, 3.141592653589793]],
    ["str", ["", "a", "ünïcødé", "x".repeat(300)]],
    ["bytes", Uint8Array.from([0, 1, 255])],
    ["const", [null, true, false]],
    [
      "nested",
      new Map<PyValue, PyValue>([
        ["d", new Map<PyValue, PyValue>([[1, "one"], [2, ["two", ["t", 2]]]])],
        ["empty", [[], new Map(), []]],
      ]),
    ],
    ["shared", [shared, shared]],
    ["set", new Set([1, 2])],
  ]);
}

Deno.test("unpickle reads plain values pickled with protocols 2, 4 and 5", async () => {
  for (const proto of [2, 4, 5]) {
    const bytes = await Deno.readFile(`${FIX}plain_p${proto}.pkl`);
    const { value, end } = unpickle(bytes, { source: `p${proto}` });
    assert.equal(end, bytes.length, `protocol ${proto}: reads up to STOP`);
    // 2**62 fits no JS number exactly: it comes back as a bigint, like 2**70.
    const want = plainValues();
    if (proto === 2) ["bytes", "set"].forEach((k) => want.delete(k));
    (want.get("int") as PyValue[])[9] = 2 ** 62 <= Number.MAX_SAFE_INTEGER ? 2 ** 62 : 2n ** 62n;
    assert.deepEqual(value, want, `protocol ${proto}`);
    const shared = (value as Map<PyValue, PyValue>).get("shared") as PyValue[];
    assert.equal(shared[0], shared[1], `protocol ${proto}: memo gives the same object`);
  }
});

Deno.test("unpickle refuses globals, calls and opcodes outside the allow-list", () => {
  const enc = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0)); // latin-1
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "GLOBAL builtins.eval",
      enc("\x80\x02cbuiltins\neval\n."),
      /^Error: refused global builtins\.eval in g /,
    ],
    [
      "STACK_GLOBAL subprocess.call",
      Uint8Array.from([
        0x80,
        4,
        0x8c,
        10,
        ...enc("subprocess"),
        0x8c,
        4,
        ...enc("call"),
        0x93,
        0x2e,
      ]),
      /^Error: refused global subprocess\.call in g /,
    ],
    ["INST os.system", enc("(ios\nsystem\n."), /refused global os\.system in g/],
    ["torch.load itself", enc("\x80\x02ctorch\nload\n."), /refused global torch\.load in g/],
    [
      "calling a storage class",
      enc("\x80\x02ctorch\nFloatStorage\n)R."),
      /g: pickle calls torch\.FloatStorage, which is not a constructor the kit allows/,
    ],
    [
      "persistent id without storages",
      enc("\x80\x02X\x01\x00\x00\x00aQ."),
      /unexpected persistent id/,
    ],
    ["BUILD on a list", enc("\x80\x02]}b."), /BUILD on an unexpected object/],
    ["unknown opcode", Uint8Array.from([0x80, 2, 0xff]), /opcode 0xff at byte 2 is not supported/],
    ["no STOP", Uint8Array.from([0x80, 2, 0x4b, 1]), /pickle ends early/],
    ["memo before set", Uint8Array.from([0x80, 2, 0x68, 3, 0x2e]), /reads memo 3 before it is set/],
    ["protocol 6", Uint8Array.from([0x80, 6, 0x4e, 0x2e]), /protocol above 5/],
  ];
  for (const [what, bytes, re] of cases) {
    assert.throws(() => unpickle(bytes, { source: "g" }), re, what);
  }
});

Deno.test("PickleWriter output reads back (ints of every width, strings, tuples)", () => {
  const ints = [
    0,
    255,
    256,
    -1,
    2 ** 31 - 1,
    -(2 ** 31),
    2 ** 31,
    -(2 ** 40),
    Number.MAX_SAFE_INTEGER,
  ];
  const w = new PickleWriter().proto().op(0x28);
  for (const v of ints) w.int(v);
  w.str("ünï").intTuple([]).intTuple([3, 4]).op(0x74, 0x2e);
  const { value } = unpickle(w.bytes(), { source: "w" });
  assert.deepEqual(value, [...ints, "ünï", [], [3, 4]]);
});
