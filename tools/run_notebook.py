#!/usr/bin/python3
"""Execute a Jupyter notebook headless through a real kernel (jupyter_client), Deno by default.

    /usr/bin/python3 tools/run_notebook.py notebooks/x.ipynb -o /tmp/x.out.ipynb \\
        --expect 'application/vnd.plotly.v1+json>=2'

- Kernel: the project-local kernelspec tools/jupyter/kernels/deno (written by
  tools/ensure_test_deps.sh), or, with --deno PATH, a temporary kernelspec for that deno binary.
  The notebook's own kernelspec name is ignored (override with --kernel-name).
- Runs every code cell in order in the notebook's directory (like Jupyter), collecting outputs
  from IOPub. After a cell's `status: idle`, keeps reading IOPub until it has been quiet for
  --drain seconds (default 0.25): the Deno kernel publishes display_data (even awaited
  `Deno.jupyter.display`) and timer callbacks' outputs after idle, and they belong to the cell.
- Any cell error stops the run: the cell index, error name/value and traceback go to stderr, the
  partly executed notebook is still written, and the exit status is 1.
- Expectations (exit status 2 when unmet): --expect 'MIME>=N' (repeatable), plus the notebook
  metadata {"cyborg": {"expect_outputs": {"MIME": N}}}. Counted over display_data and
  execute_result outputs of all cells.
- Exit status 3: the run failed (1 or 2) after the kernel sent corrupted IOPub messages (a frame
  interleaving race in Deno 2.9.6's kernel): worth one retry.
- Writes the executed notebook to -o (default: <name>.executed.ipynb next to the input),
  atomically.
"""

import argparse
import collections
import json
import os
import queue
import re
import shutil
import sys
import tempfile
import time

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_KERNEL_DIR = os.path.join(ROOT, "tools", "jupyter", "kernels")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class CellError(Exception):
    def __init__(self, index, ename, evalue, traceback):
        super().__init__(f"cell {index}: {ename}: {evalue}")
        self.index, self.ename, self.evalue, self.traceback = index, ename, evalue, traceback


def parse_expect(text):
    m = re.fullmatch(r"\s*([\w.+\-/]+)\s*>=\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"--expect {text!r}: use MIME>=N")
    return m.group(1), int(m.group(2))


def kernel_dir_for(args, tmp):
    if args.deno:
        deno = shutil.which(args.deno) or args.deno
        if not os.path.isfile(deno):
            sys.exit(f"run_notebook: --deno {args.deno}: no such file")
        kdir = os.path.join(tmp, "kernels", args.kernel_name)
        os.makedirs(kdir)
        spec = {
            "argv": [os.path.realpath(deno), "jupyter", "--kernel", "--conn", "{connection_file}"],
            "display_name": "Deno (CYBORG kit, temporary)",
            "language": "typescript",
            "env": {"NO_COLOR": "1"},
        }
        with open(os.path.join(kdir, "kernel.json"), "w") as f:
            json.dump(spec, f)
        return os.path.join(tmp, "kernels")
    kdir = args.kernel_dir or DEFAULT_KERNEL_DIR
    if not os.path.isfile(os.path.join(kdir, args.kernel_name, "kernel.json")):
        sys.exit(
            f"run_notebook: no kernelspec {os.path.join(kdir, args.kernel_name, 'kernel.json')}; "
            "run `bash tools/ensure_test_deps.sh` or pass --deno PATH"
        )
    return kdir


def output_from_msg(msg):
    """nbformat output for an IOPub message, or None for messages that are not outputs."""
    t = msg["msg_type"]
    c = msg["content"]
    if t == "stream":
        return nbformat.v4.new_output("stream", name=c["name"], text=c["text"])
    if t in ("display_data", "execute_result"):
        kw = {"data": c.get("data", {}), "metadata": c.get("metadata", {})}
        if t == "execute_result":
            kw["execution_count"] = c.get("execution_count")
        return nbformat.v4.new_output(t, **kw)
    if t == "error":
        return nbformat.v4.new_output(
            "error", ename=c["ename"], evalue=c["evalue"], traceback=c["traceback"]
        )
    return None


class Runner:
    def __init__(self, kc, timeout, drain, verbose):
        self.kc, self.timeout, self.drain, self.verbose = kc, timeout, drain, verbose
        self.display_ids = collections.defaultdict(list)  # display_id -> [(outputs, index)]
        self.bad_messages = 0  # badly signed IOPub messages skipped

    def _append(self, outputs, msg):
        t = msg["msg_type"]
        c = msg["content"]
        if t == "clear_output":
            outputs.clear()
            return
        if t == "update_display_data":
            did = c.get("transient", {}).get("display_id")
            for outs, i in self.display_ids.get(did, []):
                outs[i]["data"] = c.get("data", {})
                outs[i]["metadata"] = c.get("metadata", {})
            return
        out = output_from_msg(msg)
        if out is None:
            return
        if t == "stream" and outputs and outputs[-1].get("output_type") == "stream" \
                and outputs[-1]["name"] == out["name"]:
            outputs[-1]["text"] += out["text"]
            return
        outputs.append(out)
        did = c.get("transient", {}).get("display_id") if t == "display_data" else None
        if did:
            self.display_ids[did].append((outputs, len(outputs) - 1))

    def run_cell(self, index, cell):
        kc = self.kc
        msg_id = kc.execute(cell.source, store_history=True, allow_stdin=False)
        outputs = []
        deadline = time.monotonic() + self.timeout
        idle_at = None
        error = None
        while True:
            now = time.monotonic()
            if idle_at is not None:
                remaining = idle_at + self.drain - now
                if remaining <= 0:
                    break
            else:
                remaining = deadline - now
                if remaining <= 0:
                    raise TimeoutError(f"cell {index}: no idle after {self.timeout} s")
            try:
                msg = kc.get_iopub_msg(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            except ValueError as e:
                # Deno 2.9.6's kernel occasionally interleaves the frames of two IOPub messages
                # (bad signature, or no <IDS|MSG> delimiter); jupyter_client raises instead of
                # dropping them. Skip them; expectations still apply (exit 3 if they then fail).
                self.bad_messages += 1
                print(f"cell {index}: skipped a corrupted IOPub message ({e})"[:200],
                      file=sys.stderr)
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                if self.verbose:
                    print(f"cell {index}: dropped {msg['msg_type']} of another request",
                          file=sys.stderr)
                continue
            t = msg["msg_type"]
            if idle_at is not None:
                idle_at = time.monotonic()  # a late message: wait for another quiet period
            if t == "status":
                if msg["content"]["execution_state"] == "idle" and idle_at is None:
                    idle_at = time.monotonic()
                continue
            if t == "execute_input":
                cell.execution_count = msg["content"].get("execution_count")
                continue
            if t == "error":
                c = msg["content"]
                error = (c["ename"], c["evalue"], c["traceback"])
            self._append(outputs, msg)
        reply = kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        while reply.get("parent_header", {}).get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        content = reply["content"]
        cell.outputs = outputs
        if content.get("execution_count") is not None:
            cell.execution_count = content["execution_count"]
        for out in outputs:
            if out.get("output_type") == "execute_result":
                out["execution_count"] = cell.execution_count
        if content.get("status") == "error" or error:
            ename, evalue, tb = error or (
                content.get("ename", "Error"), content.get("evalue", ""), content.get("traceback", [])
            )
            raise CellError(index, ename, evalue, tb)


def count_mimes(nb):
    counts = collections.Counter()
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") in ("display_data", "execute_result"):
                counts.update(out.get("data", {}).keys())
    return counts


def write_atomic(nb, path):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".run_notebook-", suffix=".ipynb")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("notebook")
    p.add_argument("-o", "--output", help="executed notebook path")
    p.add_argument("--deno", help="deno binary for a temporary kernelspec")
    p.add_argument("--kernel-dir", help=f"kernelspec directory (default {DEFAULT_KERNEL_DIR})")
    p.add_argument("--kernel-name", default="deno")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per cell")
    p.add_argument("--startup-timeout", type=float, default=120.0)
    p.add_argument("--drain", type=float, default=0.25,
                   help="quiet seconds to wait for late IOPub output after each cell's idle")
    p.add_argument("--expect", type=parse_expect, action="append", default=[],
                   help="MIME>=N: at least N outputs carry MIME (repeatable)")
    p.add_argument("--cwd", help="kernel working directory (default: the notebook's)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)

    try:
        nb = nbformat.read(args.notebook, as_version=4)
    except Exception as e:  # noqa: BLE001 - report any parse failure with the path
        sys.exit(f"run_notebook: {args.notebook}: cannot read notebook ({e})")
    out_path = args.output or re.sub(r"\.ipynb$", "", args.notebook) + ".executed.ipynb"
    expect = dict(args.expect)
    meta_expect = nb.metadata.get("cyborg", {}).get("expect_outputs", {})
    for mime, n in meta_expect.items():
        expect[mime] = max(expect.get(mime, 0), int(n))

    cwd = args.cwd or os.path.dirname(os.path.abspath(args.notebook))
    status = 0
    runner = None
    with tempfile.TemporaryDirectory(prefix="run_notebook-") as tmp:
        ksm = KernelSpecManager(kernel_dirs=[kernel_dir_for(args, tmp)])
        km = KernelManager(kernel_name=args.kernel_name, kernel_spec_manager=ksm)
        km.start_kernel(cwd=cwd)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=args.startup_timeout)
            runner = Runner(kc, args.timeout, args.drain, args.verbose)
            code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
            for i, cell in code_cells:
                if not cell.source.strip():
                    cell.outputs = []
                    continue
                t0 = time.monotonic()
                try:
                    runner.run_cell(i, cell)
                finally:
                    if args.verbose:
                        print(f"cell {i}: {time.monotonic() - t0:.2f} s", file=sys.stderr)
        except CellError as e:
            tb = "\n".join(ANSI.sub("", line) for line in e.traceback)
            print(f"run_notebook: {args.notebook}: cell {e.index} failed: {e.ename}: "
                  f"{ANSI.sub('', e.evalue)}\n{tb}", file=sys.stderr)
            status = 1
        except TimeoutError as e:
            print(f"run_notebook: {args.notebook}: {e}", file=sys.stderr)
            status = 1
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)

    write_atomic(nb, out_path)
    counts = count_mimes(nb)
    print(json.dumps({"notebook": args.notebook, "output": out_path, "status": status,
                      "mime_counts": dict(counts)}))
    if status == 0:
        unmet = [f"{m}: {counts.get(m, 0)} < {n}" for m, n in expect.items() if counts.get(m, 0) < n]
        if unmet:
            print(f"run_notebook: {args.notebook}: expected outputs missing: " + "; ".join(unmet),
                  file=sys.stderr)
            status = 2
    if status != 0 and runner is not None and runner.bad_messages:
        print(f"run_notebook: {args.notebook}: the kernel sent {runner.bad_messages} corrupted "
              "IOPub message(s); outputs may be missing (exit 3: worth one retry)", file=sys.stderr)
        status = 3
    return status


if __name__ == "__main__":
    sys.exit(main())
