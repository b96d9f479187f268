#!/usr/bin/env python3
"""A stand-in for E2B's HTTP API, for testing the e2b backend offline.

It implements the endpoints the backend uses, on one port:

* the control plane: POST /sandboxes, GET and DELETE /sandboxes/{id},
  POST /sandboxes/{id}/timeout and POST /sandboxes/{id}/connect, checked
  against an API key given on the command line (X-API-KEY);
* envd, addressed by the E2b-Sandbox-Id and E2b-Sandbox-Port headers and
  checked against each sandbox's access token (X-Access-Token): the Connect
  RPCs process.Process/Start and process.Process/Connect (server streams of
  5-byte envelopes over chunked HTTP/1.1), process.Process/SendSignal, and
  the files API (POST and GET /files).

This is not E2B. A "sandbox" is a temporary directory: /home/user maps to
<root>/home/user, and processes run as local subprocesses of this server,
each in its own process group, with this server's environment plus HOME set
to the mapped home and the request's envs. Arguments and working
directories under /home/user are mapped the same way.

Test hooks, none of them part of E2B's API:

* GET /_log: every request received, as a JSON list of {method, path,
  headers, status, body, time} (plus the pid of a Start, and "cut" when its
  stream was cut); the body is the decoded JSON message of
  control-plane and RPC calls (null for files).
* GET /_state: the sandboxes alive, with their roots and running pids.
* POST /_control with JSON {"fail": [...], "cut": [...]} adds faults, the
  same as the command-line flags:
  --fail METHOD:PATH_PREFIX:STATUS[:COUNT]  answer the next COUNT (default 1)
      requests whose method matches and whose path starts with the prefix
      with STATUS and an error body;
  --cut CMD:AFTER[:COUNT]  for the next COUNT (default 1) Start calls whose
      cmd is CMD, close the connection abruptly after AFTER data events,
      without an end event, while the process goes on.

Usage: e2b_server.py --api-key KEY [--fail ...] [--cut ...]
The first line on stdout is the port it listens on (127.0.0.1).
"""

import argparse
import base64
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

ENVD_PORT = "49983"
SANDBOX_HOME = "/home/user"

LOCK = threading.Lock()
LOG = []
FAULTS = []  # dicts: method, prefix, status, count
CUTS = []  # dicts: cmd, after, count
SANDBOXES = {}
API_KEY = ""


class Process:
    """One process of a sandbox and the streams following its output."""

    def __init__(self, popen):
        self.popen = popen
        self.pid = popen.pid
        self.subscribers = []
        self.lock = threading.Lock()
        self.ended = None

    def subscribe(self):
        q = queue.Queue()
        with self.lock:
            if self.ended is not None:
                return None
            self.subscribers.append(q)
        return q

    def unsubscribe(self, q):
        with self.lock:
            if q in self.subscribers:
                self.subscribers.remove(q)

    def publish(self, event):
        with self.lock:
            for q in list(self.subscribers):
                q.put(event)


class Sandbox:
    def __init__(self, template, metadata, timeout):
        self.id = "sbx" + uuid.uuid4().hex[:16]
        self.token = "envd-" + secrets.token_hex(12)
        self.template = template
        self.metadata = metadata
        self.root = tempfile.mkdtemp(prefix="e2b-standin-")
        self.home = os.path.join(self.root, "home", "user")
        os.makedirs(self.home)
        self.processes = {}
        self.started = time.time()
        self.end_at = time.time() + timeout

    def map_path(self, path):
        """A sandbox path as a path of this machine; relative paths resolve
        against the home."""
        if path.startswith("~"):
            path = SANDBOX_HOME + path[1:]
        if path == SANDBOX_HOME or path.startswith(SANDBOX_HOME + "/"):
            return self.home + path[len(SANDBOX_HOME):]
        if path.startswith("/"):
            return path
        return os.path.join(self.home, path)

    def map_arg(self, arg):
        if arg == SANDBOX_HOME or arg.startswith(SANDBOX_HOME + "/"):
            return self.home + arg[len(SANDBOX_HOME):]
        return arg

    def kill_all(self):
        """Kills every process group; their streams are cut, as when a
        sandbox goes away."""
        for proc in list(self.processes.values()):
            proc.publish(None)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass

    def info(self, with_token=True):
        value = {
            "templateID": self.template,
            "sandboxID": self.id,
            "clientID": "standin",
            "envdVersion": "0.2.0",
        }
        if with_token:
            value["envdAccessToken"] = self.token
        return value


def envelope(message, flags=0):
    payload = json.dumps(message).encode()
    return struct.pack(">BI", flags, len(payload)) + payload


def take_fault(method, path):
    with LOCK:
        for fault in FAULTS:
            if fault["count"] > 0 and fault["method"] == method and path.startswith(fault["prefix"]):
                fault["count"] -= 1
                return fault["status"]
    return None


def take_cut(cmd):
    with LOCK:
        for cut in CUTS:
            if cut["count"] > 0 and cut["cmd"] == cmd:
                cut["count"] -= 1
                return cut["after"]
    return None


def add_fault(spec):
    parts = spec.split(":")
    FAULTS.append({
        "method": parts[0].upper(),
        "prefix": parts[1],
        "status": int(parts[2]),
        "count": int(parts[3]) if len(parts) > 3 else 1,
    })


def add_cut(spec):
    parts = spec.split(":")
    CUTS.append({
        "cmd": parts[0],
        "after": int(parts[1]),
        "count": int(parts[2]) if len(parts) > 2 else 1,
    })


def pump(proc, pipe, name, done):
    """Forwards one output pipe of a process as data events."""
    try:
        while True:
            chunk = os.read(pipe.fileno(), 32 * 1024)
            if not chunk:
                break
            proc.publish({"data": {name: base64.b64encode(chunk).decode()}})
    except OSError:
        pass
    finally:
        done.release()


def watch(sandbox, proc, done):
    """Waits for both pipes and the process, then ends every stream."""
    done.acquire()
    done.acquire()
    code = proc.popen.wait()
    end = {"exited": code >= 0}
    if code >= 0:
        end["status"] = "exit status %d" % code
        if code != 0:
            end["exitCode"] = code
            end["error"] = "exit status %d" % code
    else:
        end["exitCode"] = -1
        end["status"] = "signal: %s" % signal.Signals(-code).name[3:].lower()
    with proc.lock:
        proc.ended = end
    proc.publish({"end": end})
    with LOCK:
        sandbox.processes.pop(proc.pid, None)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    # --- plumbing -------------------------------------------------------

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def record(self, body):
        entry = {
            "method": self.command,
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items()},
            "status": None,
            "body": body,
            "time": time.time(),
        }
        with LOCK:
            LOG.append(entry)
        return entry

    def send(self, entry, status, body=None, content_type="application/json"):
        if entry is not None:
            entry["status"] = status
        data = b""
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def error(self, entry, status, message, code=None):
        self.send(entry, status, {"code": code if code is not None else status, "message": message})

    # --- dispatch -------------------------------------------------------

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        raw = self.read_body()
        url = urlsplit(self.path)
        path = url.path
        if path == "/_log":
            with LOCK:
                data = json.dumps(LOG).encode()
            return self.send(None, 200, data)
        if path == "/_state":
            with LOCK:
                state = {
                    sid: {"root": s.root, "pids": sorted(s.processes)}
                    for sid, s in SANDBOXES.items()
                }
            return self.send(None, 200, {"sandboxes": state})
        if path == "/_control":
            control = json.loads(raw or b"{}")
            with LOCK:
                for spec in control.get("fail", []):
                    FAULTS.append({
                        "method": spec["method"].upper(),
                        "prefix": spec["path"],
                        "status": int(spec["status"]),
                        "count": int(spec.get("count", 1)),
                    })
                for spec in control.get("cut", []):
                    CUTS.append({
                        "cmd": spec["cmd"],
                        "after": int(spec["afterData"]),
                        "count": int(spec.get("count", 1)),
                    })
            return self.send(None, 204)

        body = None
        if self.headers.get("Content-Type", "").startswith("application/json") and raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        if self.headers.get("Content-Type", "").startswith("application/connect+json") and len(raw) >= 5:
            try:
                body = json.loads(raw[5:])
            except ValueError:
                body = None
        entry = self.record(body)

        status = take_fault(self.command, path)
        if status is not None:
            return self.error(entry, status, "injected failure")

        if path.startswith("/sandboxes"):
            return self.control_plane(entry, path, body)
        if path.startswith("/process.Process/") or path == "/files" or path == "/health":
            return self.envd(entry, path, url.query, body, raw)
        return self.error(entry, 404, "no such endpoint")

    # --- control plane --------------------------------------------------

    def control_plane(self, entry, path, body):
        if self.headers.get("X-API-KEY") != API_KEY:
            return self.error(
                entry, 401,
                "Invalid API key, please visit https://e2b.dev/docs?reason=sdk-missing-api-key to get your API key.",
            )
        parts = [p for p in path.split("/") if p]
        if parts == ["sandboxes"] and self.command == "POST":
            if not isinstance(body, dict) or not body.get("templateID"):
                return self.error(entry, 400, "templateID is required")
            sandbox = Sandbox(body["templateID"], body.get("metadata") or {}, int(body.get("timeout", 15)))
            with LOCK:
                SANDBOXES[sandbox.id] = sandbox
            return self.send(entry, 201, sandbox.info(with_token=bool(body.get("secure"))))
        if len(parts) < 2:
            return self.error(entry, 404, "no such endpoint")
        with LOCK:
            sandbox = SANDBOXES.get(parts[1])
        if sandbox is None:
            return self.error(entry, 404, "sandbox \"%s\" not found" % parts[1])
        if len(parts) == 2 and self.command == "GET":
            value = sandbox.info(with_token=False)
            value.update({"state": "running", "metadata": sandbox.metadata,
                          "cpuCount": 2, "memoryMB": 512, "diskSizeMB": 1024})
            return self.send(entry, 200, value)
        if len(parts) == 2 and self.command == "DELETE":
            with LOCK:
                SANDBOXES.pop(sandbox.id, None)
            sandbox.kill_all()
            shutil.rmtree(sandbox.root, ignore_errors=True)
            return self.send(entry, 204)
        if parts[2:] == ["timeout"] and self.command == "POST":
            if not isinstance(body, dict) or "timeout" not in body:
                return self.error(entry, 400, "timeout is required")
            sandbox.end_at = time.time() + int(body["timeout"])
            return self.send(entry, 204)
        if parts[2:] == ["connect"] and self.command == "POST":
            if not isinstance(body, dict) or "timeout" not in body:
                return self.error(entry, 400, "timeout is required")
            sandbox.end_at = max(sandbox.end_at, time.time() + int(body["timeout"]))
            return self.send(entry, 200, sandbox.info())
        return self.error(entry, 404, "no such endpoint")

    # --- envd -----------------------------------------------------------

    def envd(self, entry, path, query, body, raw):
        with LOCK:
            sandbox = SANDBOXES.get(self.headers.get("E2b-Sandbox-Id", ""))
        if sandbox is None or self.headers.get("E2b-Sandbox-Port") != ENVD_PORT:
            entry["status"] = 502
            return self.send(entry, 502, b"sandbox not found", "text/plain")
        if self.headers.get("X-Access-Token") != sandbox.token:
            return self.error(entry, 401, "unauthorized access, please provide a valid access token or method signing if supported")
        if path == "/health":
            return self.send(entry, 204)
        if path == "/files":
            return self.files(entry, sandbox, query, raw)
        if path.startswith("/process.Process/") and self.headers.get("Connect-Protocol-Version") != "1":
            return self.connect_error(entry, 400, "invalid_argument", "missing Connect-Protocol-Version")
        method = path[len("/process.Process/"):]
        if method == "SendSignal":
            return self.send_signal(entry, sandbox, body)
        if method in ("Start", "Connect"):
            if not self.headers.get("Content-Type", "").startswith("application/connect+json"):
                return self.connect_error(entry, 415, "unknown", "expected application/connect+json")
            if len(raw) < 5 or struct.unpack(">BI", raw[:5])[1] != len(raw) - 5 or not isinstance(body, dict):
                return self.connect_error(entry, 400, "invalid_argument", "malformed envelope")
            if method == "Start":
                return self.start(entry, sandbox, body)
            return self.reconnect(entry, sandbox, body)
        return self.connect_error(entry, 404, "unimplemented", "no such method")

    def connect_error(self, entry, status, code, message):
        self.send(entry, status, {"code": code, "message": message})

    def files(self, entry, sandbox, query, raw):
        params = parse_qs(query)
        target = unquote(params.get("path", [""])[0])
        if not target:
            return self.error(entry, 400, "path is required")
        local = sandbox.map_path(target)
        if self.command == "POST":
            if self.headers.get("Content-Type", "") != "application/octet-stream":
                return self.error(entry, 400, "unsupported content type")
            if os.path.isdir(local):
                return self.error(entry, 400, "path is a directory")
            os.makedirs(os.path.dirname(local), exist_ok=True)
            with open(local, "wb") as f:
                f.write(raw)
            return self.send(entry, 200, [{"path": target, "name": os.path.basename(target), "type": "file"}])
        if not os.path.isfile(local):
            return self.error(entry, 404, "file not found")
        with open(local, "rb") as f:
            data = f.read()
        return self.send(entry, 200, data, "application/octet-stream")

    def send_signal(self, entry, sandbox, body):
        pid = ((body or {}).get("process") or {}).get("pid")
        name = (body or {}).get("signal")
        signals = {"SIGNAL_SIGTERM": signal.SIGTERM, "SIGNAL_SIGKILL": signal.SIGKILL,
                   15: signal.SIGTERM, 9: signal.SIGKILL}
        if name not in signals:
            return self.connect_error(entry, 501, "unimplemented", "unsupported signal")
        with LOCK:
            proc = sandbox.processes.get(pid)
        if proc is None:
            return self.connect_error(entry, 404, "not_found", "process with pid %s not found" % pid)
        try:
            os.killpg(proc.pid, signals[name])
        except OSError:
            pass
        return self.send(entry, 200, {})

    def start(self, entry, sandbox, body):
        config = body.get("process") or {}
        cmd = config.get("cmd")
        if not cmd:
            return self.connect_error(entry, 400, "invalid_argument", "cmd is required")
        cwd = sandbox.map_path(config.get("cwd") or SANDBOX_HOME)
        if not os.path.isdir(cwd):
            return self.connect_error(entry, 400, "invalid_argument", "cwd '%s' does not exist" % config.get("cwd"))
        env = dict(os.environ)
        env["HOME"] = sandbox.home
        env.update({k: str(v) for k, v in (config.get("envs") or {}).items()})
        argv = [sandbox.map_arg(cmd)] + [sandbox.map_arg(a) for a in config.get("args") or []]
        try:
            popen = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            )
        except OSError as err:
            return self.connect_error(entry, 400, "invalid_argument", "cannot start %s: %s" % (cmd, err))
        proc = Process(popen)
        entry["pid"] = proc.pid
        with LOCK:
            sandbox.processes[proc.pid] = proc
        q = proc.subscribe()
        done = threading.Semaphore(0)
        threading.Thread(target=pump, args=(proc, popen.stdout, "stdout", done), daemon=True).start()
        threading.Thread(target=pump, args=(proc, popen.stderr, "stderr", done), daemon=True).start()
        threading.Thread(target=watch, args=(sandbox, proc, done), daemon=True).start()
        self.stream(entry, proc, q, take_cut(cmd))

    def reconnect(self, entry, sandbox, body):
        pid = ((body or {}).get("process") or {}).get("pid")
        with LOCK:
            proc = sandbox.processes.get(pid)
        q = proc.subscribe() if proc is not None else None
        if q is None:
            return self.connect_error(entry, 404, "not_found", "process with pid %s not found" % pid)
        self.stream(entry, proc, q, None)

    def stream(self, entry, proc, q, cut_after):
        entry["status"] = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/connect+json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        try:
            interval = int(self.headers.get("Keepalive-Ping-Interval") or 90)
        except ValueError:
            interval = 90
        data_events = 0
        try:
            chunk(envelope({"event": {"start": {"pid": proc.pid}}}))
            while True:
                try:
                    event = q.get(timeout=max(interval, 1))
                except queue.Empty:
                    chunk(envelope({"event": {"keepalive": {}}}))
                    continue
                if event is None:
                    # The sandbox was killed: the connection just goes.
                    raise ConnectionAbortedError()
                chunk(envelope({"event": event}))
                if "end" in event:
                    chunk(envelope({}, flags=0x02))
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
                if "data" in event:
                    data_events += 1
                    if cut_after is not None and data_events >= cut_after:
                        entry["cut"] = True
                        raise ConnectionAbortedError()
        except (OSError, ConnectionError):
            proc.unsubscribe(q)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Clients that drop a connection (a cut stream, a killed run) are
        # part of the tests, not errors of the server.
        if isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
            return
        super().handle_error(request, client_address)


def main():
    global API_KEY
    parser = argparse.ArgumentParser(description="A stand-in for E2B's HTTP API (not E2B).")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--fail", action="append", default=[])
    parser.add_argument("--cut", action="append", default=[])
    args = parser.parse_args()
    API_KEY = args.api_key
    for spec in args.fail:
        add_fault(spec)
    for spec in args.cut:
        add_cut(spec)
    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)

    def stop(*_):
        with LOCK:
            boxes = list(SANDBOXES.values())
        for sandbox in boxes:
            sandbox.kill_all()
            shutil.rmtree(sandbox.root, ignore_errors=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever()
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
