/**
 * "Run All" against the real Deno kernel: cells sent back-to-back (tests/_support/jupyter_run_all.py,
 * with two extra IOPub subscribers as a notebook server keeps), every output must carry its own
 * cell's request as parent and arrive before that cell's `status: idle`. The cells show the kit's
 * figures (the first inlines the ~4.8 MB plotly.js), markdown, a displayable last expression that
 * sends plotly.js again, and console output.
 *
 * The second test sends the same cells through a live classic notebook server (`jupyter notebook`
 * on a free port with a random token): a session over the REST API, then the kernel's websocket,
 * messages in the browser's JSON wire format, IOPub as the browser receives it.
 *
 * Needs Debian's python3 with jupyter_client and notebook (/usr/bin/python3). The kernel is the
 * deno running the test (a temporary kernelspec).
 */
import assert from "node:assert/strict";
import { connectionFileFromArgs, FLUSH_MARKER_PREFIX, markerOf } from "../lib/jupyter_iopub.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
const PYTHON = "/usr/bin/python3";
const CLIENT = `${ROOT}/tests/_support/jupyter_run_all.py`;

interface Entry {
  t: number;
  type: string;
  parent: number | null;
  state?: string;
  text?: string;
}

const fig = (tag: string) =>
  `{ data: [{ type: "bar", x: ["a", "b"], y: [1, 2] }], layout: { title: { text: "[${tag}]" } } }`;

const CELLS = [
  `import { display } from "${ROOT}/lib/plots/mod.ts";\n` +
  `import { displayMarkdown, flushOutputs } from "${ROOT}/lib/notebook.ts";`,
  `console.log("[c1] start");\nawait display(${fig("c1")});\nawait displayMarkdown("[c1] md");\n` +
  `await display(${fig("c1")});`,
  `await displayMarkdown("[c2] md");\nawait display(${fig("c2")});\nawait display(${fig("c2")});`,
  `console.log("[c3]");\nawait display(${fig("c3")}, { inlinePlotly: "always" });`,
  `await display(${fig("c4")});`,
  `console.log("[c5]");\nawait flushOutputs();`,
];

/** Problems with the trace: outputs under another cell, after their cell's idle, errors. */
function attributionProblems(trace: Entry[], cells: number): string[] {
  const problems: string[] = [];
  const idle = new Set<number>();
  for (const e of trace) {
    if (e.type === "corrupt" || e.type === "error") problems.push(`${e.type}: ${e.text}`);
    if (e.type === "status" && e.state === "idle" && e.parent !== null) idle.add(e.parent);
    const m = /\[c(\d+)\]/.exec(e.text ?? "");
    if (!m) continue;
    const cell = Number(m[1]);
    const what = `${e.type} ${JSON.stringify(e.text?.trim())} at ${e.t} s`;
    if (e.parent !== cell) problems.push(`${what}: parent cell ${e.parent}, produced by ${cell}`);
    else if (idle.has(cell)) problems.push(`${what}: after cell ${cell}'s idle`);
  }
  for (let i = 0; i < cells; i++) if (!idle.has(i)) problems.push(`cell ${i}: no idle`);
  return problems;
}

/**
 * Runs CELLS through tests/_support/jupyter_run_all.py (`extra` picks the mode) and asserts that
 * every output arrived, under its own cell and before that cell's idle.
 */
async function assertRunAll(extra: string[]): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "cyborg-run-all-" });
  try {
    await Deno.mkdir(`${tmp}/kernels/deno`, { recursive: true });
    await Deno.writeTextFile(
      `${tmp}/kernels/deno/kernel.json`,
      JSON.stringify({
        argv: [Deno.execPath(), "jupyter", "--kernel", "--conn", "{connection_file}"],
        display_name: "Deno (test)",
        language: "typescript",
        env: { NO_COLOR: "1" },
      }),
    );
    await Deno.writeTextFile(`${tmp}/cells.json`, JSON.stringify(CELLS));
    const out = await new Deno.Command(PYTHON, {
      args: [
        CLIENT,
        `${tmp}/cells.json`,
        "--kernel-dir",
        `${tmp}/kernels`,
        // A bound for a loaded machine (the whole suite runs in parallel on 2 cores, where the
        // first figure alone has taken 24 s); an unloaded run takes ~9 s.
        "--timeout",
        "150",
        ...extra,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr.slice(-2000));
    const { trace, replies } = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      trace: Entry[];
      replies: { parent: number; status: string; evalue?: string }[];
    };
    const log = trace.map((e) => `${e.t} ${e.type} ${e.parent} ${e.state ?? e.text ?? ""}`.trim())
      .join("\n");
    assert.deepEqual(attributionProblems(trace, CELLS.length), [], log);
    assert.deepEqual(replies.map((r) => r.status), CELLS.map(() => "ok"), JSON.stringify(replies));
    // Everything the cells produced arrived: 2 + 2 + 1 + 1 figures (plotly.js inlined in the
    // first and in c3's), 2 markdown, 3 streams, no execute_result.
    const texts = trace.filter((e) => e.type !== "status" && e.type !== "execute_input");
    const count = (re: RegExp) => texts.filter((e) => re.test(e.text ?? "")).length;
    assert.equal(count(/^Plotly figure: \[c\d\]/), 6, log);
    assert.equal(count(/^\[c\d\] md$/), 2, log);
    assert.equal(texts.filter((e) => e.type === "stream").length, 3, log);
    assert.equal(texts.filter((e) => e.type === "execute_result").length, 0, log);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("Run All: every output goes out with its own cell, before the cell's idle", async () => {
  await assertRunAll(["--listeners", "2"]);
});

Deno.test("Run All through a live notebook server: outputs reach its websocket with their cell", async () => {
  await assertRunAll(["--server"]);
});

Deno.test("flush markers and the kernel's connection file are recognised", () => {
  assert.equal(
    connectionFileFromArgs(["deno", "jupyter", "--kernel", "--conn", "/k.json"]),
    "/k.json",
  );
  assert.equal(connectionFileFromArgs(["deno", "jupyter", "--conn=/k.json"]), "/k.json");
  assert.equal(connectionFileFromArgs(["deno", "repl"]), undefined);
  const enc = (s: string) => new TextEncoder().encode(s);
  const id = `${FLUSH_MARKER_PREFIX}1234`;
  const msg = (content: unknown) =>
    ["<IDS|MSG>", "sig", "{}", "{}", "{}", JSON.stringify(content)].map(enc);
  assert.equal(markerOf(msg({ data: {}, metadata: {}, transient: { display_id: id } })), id);
  assert.equal(markerOf(msg({ data: {}, transient: { display_id: "other" } })), undefined);
  assert.equal(markerOf(msg({ text: id })), undefined);
  assert.equal(markerOf([enc("no delimiter")]), undefined);
});
