"""Runs cells the way a notebook's "Run All" does and records IOPub as it arrives.

Usage: /usr/bin/python3 jupyter_run_all.py CELLS.json [--kernel-dir DIR] [--cwd DIR]
                                           [--timeout S] [--drain S] [--listeners N] [--server]

CELLS.json is a JSON list of code strings. The script starts the kernel (kernelspec `deno` from
--kernel-dir, default tools/jupyter/kernels), waits until it is ready, sends every cell as an
execute_request back-to-back without waiting for replies, then reads IOPub until every cell's
`status: idle` has arrived and the channel has been quiet for --drain seconds. It prints one JSON
object: {"trace": [...], "replies": [...]}. Each trace entry is one IOPub message in arrival order:
{"t": seconds since the first request, "type": msg_type, "parent": index of the request named by
parent_header.msg_id (null when none of ours), "state": execution_state for status, "text":
stream text / text/plain of the output, "bytes": size of the content JSON}. A message that
jupyter_client cannot decode (bad signature, missing delimiter) becomes {"type": "corrupt"}.

With --server the cells go through a live classic notebook server (`jupyter notebook`) the way
the browser UI sends them: the script starts the server on a free port with a random token and a
temporary JUPYTER_PATH holding the kernelspec, creates a session over the REST API
(`POST /api/sessions`), opens the kernel's websocket (`/api/kernels/ID/channels`), sends
kernel_info_request and then every cell as an execute_request on the "shell" channel in the
browser's JSON wire format, and records the "iopub" messages the websocket delivers, as above.
The session, the kernel and the server are shut down afterwards, also on error; processes left
behind are killed.
"""

import argparse
import asyncio
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone

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


def entry_for(msg, index, t0):
    """One trace entry for an IOPub message."""
    parent = index.get((msg.get("parent_header") or {}).get("msg_id"))
    entry = {"t": round(time.monotonic() - t0, 4), "type": msg["msg_type"], "parent": parent,
             "bytes": len(json.dumps(msg.get("content", {})))}
    if msg["msg_type"] == "status":
        entry["state"] = msg["content"].get("execution_state")
    text = summary(msg)
    if text is not None:
        entry["text"] = text[:300]
    return entry


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid):
    """Process ids below `pid` (from /proc), children first."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Server:
    """A classic notebook server in a subprocess, with its REST API."""

    def __init__(self, kernel_dir, kernel_name, cwd, timeout):
        self.tmp = tempfile.mkdtemp(prefix="jupyter-run-all-")
        data = os.path.join(self.tmp, "data")
        shutil.copytree(os.path.join(kernel_dir, kernel_name),
                        os.path.join(data, "kernels", kernel_name))
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, JUPYTER_PATH=data, JUPYTER_DATA_DIR=data,
                   JUPYTER_CONFIG_DIR=os.path.join(self.tmp, "config"),
                   JUPYTER_RUNTIME_DIR=os.path.join(self.tmp, "runtime"))
        self.log = open(os.path.join(self.tmp, "server.log"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "notebook", "--no-browser", "--ip=127.0.0.1",
             f"--port={self.port}", "--port-retries=0", f"--notebook-dir={cwd}",
             f"--NotebookApp.token={self.token}", "--NotebookApp.open_browser=False",
             "--NotebookApp.allow_root=True"],
            env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.kernel_pids = set()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.api("GET", "/api/status")
                return
            except (OSError, urllib.error.URLError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("notebook server did not come up:\n" + self.log_tail())
                time.sleep(0.2)

    def log_tail(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read()[-3000:].decode("utf-8", "replace")

    def api(self, method, path, body=None):
        req = urllib.request.Request(
            self.base + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read()
        return json.loads(text) if text else None

    def remember_kernels(self):
        self.kernel_pids.update(descendants(self.proc.pid))

    def close(self, session_id=None):
        """Session, kernel and server down; anything still running is killed."""
        if self.proc.poll() is None:
            self.remember_kernels()
            try:
                if session_id:
                    self.api("DELETE", f"/api/sessions/{session_id}")
                self.api("POST", "/api/shutdown")
            except (OSError, urllib.error.URLError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
        deadline = time.monotonic() + 5
        for pid in self.kernel_pids:
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def browser_msg(session, msg_type, content, channel="shell"):
    """A message in the JSON wire format of the notebook's browser client."""
    return {"header": {"msg_id": uuid.uuid4().hex, "username": "", "session": session,
                       "msg_type": msg_type, "version": "5.2",
                       "date": datetime.now(timezone.utc).isoformat()},
            "metadata": {}, "content": content, "buffers": [], "parent_header": {},
            "channel": channel}


async def run_via_server(args, cells, server, session):
    from notebook.base.zmqhandlers import deserialize_binary_message
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    kernel_id = session["kernel"]["id"]
    client_session = uuid.uuid4().hex
    url = (f"ws://127.0.0.1:{server.port}/api/kernels/{kernel_id}/channels"
           f"?session_id={client_session}")
    ws = await websocket_connect(
        HTTPRequest(url, headers={"Authorization": f"token {server.token}",
                                  "Origin": server.base}),
        max_message_size=1 << 30)
    server.remember_kernels()

    async def receive(timeout):
        raw = await asyncio.wait_for(ws.read_message(), timeout)
        if raw is None:
            raise RuntimeError("websocket closed")
        return deserialize_binary_message(raw) if isinstance(raw, bytes) else json.loads(raw)

    trace, replies = [], []
    try:
        info = browser_msg(client_session, "kernel_info_request", {})
        ws.write_message(json.dumps(info))
        deadline = time.monotonic() + args.timeout
        while True:  # the reply, then anything left over from startup
            msg = await receive(max(0.1, deadline - time.monotonic()))
            if msg.get("parent_header", {}).get("msg_id") == info["header"]["msg_id"] \
                    and msg["msg_type"] == "kernel_info_reply":
                break
        while True:
            try:
                await receive(0.3)
            except asyncio.TimeoutError:
                break
        t0 = time.monotonic()
        ids = []
        for code in cells:
            msg = browser_msg(client_session, "execute_request", {
                "code": code, "silent": False, "store_history": True, "user_expressions": {},
                "allow_stdin": True, "stop_on_error": True})
            ids.append(msg["header"]["msg_id"])
            ws.write_message(json.dumps(msg))
        index = {m: i for i, m in enumerate(ids)}
        idle = set()
        deadline = t0 + args.timeout
        while time.monotonic() < deadline:
            done = len(idle) == len(ids) and len(replies) == len(ids)
            try:
                msg = await receive(args.drain if done else
                                    max(0.1, min(1.0, deadline - time.monotonic())))
            except asyncio.TimeoutError:
                if done:
                    break
                continue
            channel = msg.get("channel")
            if channel == "shell":
                i = index.get(msg.get("parent_header", {}).get("msg_id"))
                if i is not None and msg["msg_type"] == "execute_reply":
                    replies.append({"parent": i, "status": msg["content"].get("status"),
                                    "evalue": msg["content"].get("evalue")})
            elif channel == "iopub":
                entry = entry_for(msg, index, t0)
                if entry.get("state") == "idle" and entry["parent"] is not None:
                    idle.add(entry["parent"])
                trace.append(entry)
    finally:
        ws.close()
    return trace, replies


def main_server(args, cells):
    server = Server(args.kernel_dir, args.kernel_name, args.cwd, args.timeout)
    session = None
    try:
        session = server.api("POST", "/api/sessions", {
            "path": "run_all.ipynb", "name": "run_all.ipynb", "type": "notebook",
            "kernel": {"name": args.kernel_name}})
        server.remember_kernels()
        trace, replies = asyncio.run(run_via_server(args, cells, server, session))
    except Exception:
        sys.stderr.write(server.log_tail() + "\n")
        raise
    finally:
        server.close(session and session.get("id"))
    json.dump({"trace": trace, "replies": replies}, sys.stdout)
    print()


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
    p.add_argument("--server", action="store_true",
                   help="go through a live classic notebook server and its kernel websocket")
    args = p.parse_args(argv)
    with open(args.cells, encoding="utf-8") as f:
        cells = json.load(f)
    if args.server:
        return main_server(args, cells)

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
            entry = entry_for(msg, index, t0)
            if entry.get("state") == "idle" and entry["parent"] is not None:
                idle.add(entry["parent"])
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
