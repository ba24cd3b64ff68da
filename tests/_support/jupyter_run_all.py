"""Runs cells the way a notebook's "Run All" does and records IOPub as it arrives.

Usage: /usr/bin/python3 jupyter_run_all.py CELLS.json [--kernel-dir DIR] [--cwd DIR]
                                           [--timeout S] [--drain S]

CELLS.json is a JSON list of code strings. The script starts the kernel (kernelspec `deno` from
--kernel-dir, default tools/jupyter/kernels), waits until it is ready, sends every cell as an
execute_request back-to-back without waiting for replies, then reads IOPub until every cell's
`status: idle` has arrived and the channel has been quiet for --drain seconds. It prints one JSON
object: {"trace": [...], "replies": [...]}. Each trace entry is one IOPub message in arrival order:
{"t": seconds since the first request, "type": msg_type, "parent": index of the request named by
parent_header.msg_id (null when none of ours), "state": execution_state for status, "text":
stream text / text/plain of the output, "bytes": size of the content JSON}. A message that
jupyter_client cannot decode (bad signature, missing delimiter) becomes {"type": "corrupt"}.
"""

import argparse
import json
import os
import queue
import sys
import time

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def summary(msg):
    c = msg.get("content", {})
    t = msg["msg_type"]
    if t == "stream":
        return c.get("text", "")
    if t in ("display_data", "execute_result", "update_display_data"):
        text = c.get("data", {}).get("text/plain", "")
        return text if isinstance(text, str) else "".join(text)
    if t == "error":
        return f"{c.get('ename')}: {c.get('evalue')}"
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cells")
    p.add_argument("--kernel-dir", default=os.path.join(ROOT, "tools/jupyter/kernels"))
    p.add_argument("--kernel-name", default="deno")
    p.add_argument("--cwd", default=ROOT)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--drain", type=float, default=1.0)
    p.add_argument("--listeners", type=int, default=0,
                   help="further IOPub subscribers (a notebook server keeps two per kernel)")
    args = p.parse_args(argv)
    with open(args.cells, encoding="utf-8") as f:
        cells = json.load(f)

    ksm = KernelSpecManager(kernel_dirs=[args.kernel_dir])
    km = KernelManager(kernel_name=args.kernel_name, kernel_spec_manager=ksm)
    km.start_kernel(cwd=args.cwd)
    kc = km.client()
    kc.start_channels()
    listeners = []
    for _ in range(args.listeners):
        extra = km.client()
        extra.start_channels(shell=False, stdin=False, hb=False, control=False)
        listeners.append(extra)
    trace, replies = [], []
    try:
        kc.wait_for_ready(timeout=args.timeout)
        while True:  # anything left over from startup (kernel_info's status messages)
            try:
                kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                break
        t0 = time.monotonic()
        ids = [kc.execute(code, store_history=True, allow_stdin=False) for code in cells]
        index = {m: i for i, m in enumerate(ids)}
        idle = set()
        deadline = t0 + args.timeout
        quiet_since = None
        while time.monotonic() < deadline:
            if len(idle) == len(ids):
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= args.drain:
                    break
            try:
                msg = kc.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            except ValueError as e:
                trace.append({"t": round(time.monotonic() - t0, 4), "type": "corrupt",
                              "parent": None, "text": str(e)[:200]})
                quiet_since = None
                continue
            quiet_since = None
            parent = index.get(msg.get("parent_header", {}).get("msg_id"))
            entry = {"t": round(time.monotonic() - t0, 4), "type": msg["msg_type"],
                     "parent": parent,
                     "bytes": len(json.dumps(msg.get("content", {})))}
            if msg["msg_type"] == "status":
                entry["state"] = msg["content"].get("execution_state")
                if entry["state"] == "idle" and parent is not None:
                    idle.add(parent)
            text = summary(msg)
            if text is not None:
                entry["text"] = text[:300]
            trace.append(entry)
        while len(replies) < len(ids):
            try:
                r = kc.get_shell_msg(timeout=1.0)
            except queue.Empty:
                break
            i = index.get(r.get("parent_header", {}).get("msg_id"))
            if i is not None:
                replies.append({"parent": i, "status": r["content"].get("status"),
                                "evalue": r["content"].get("evalue")})
    finally:
        for extra in listeners:
            extra.stop_channels()
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    json.dump({"trace": trace, "replies": replies}, sys.stdout)
    print()


if __name__ == "__main__":
    sys.exit(main())
