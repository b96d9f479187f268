#!/usr/bin/env python3
"""A stand-in for E2B's HTTP API, for testing the e2b backend offline.

This is not E2B. It answers as E2B does where the e2b backend and E2B's
Python SDK reach it, following E2B's own sources (facts read from them, no
code taken):

* e2b-dev/infra at 54693ff353d26c5fe1951db5467e751f3e2f984e:
  - spec/openapi.yml (8614ec462): the control plane. POST /sandboxes
    (NewSandbox -> 201 Sandbox), GET /sandboxes (v1 list, deprecated) and
    GET /v2/sandboxes (metadata, state, limit, nextToken; X-Next-Token),
    GET /sandboxes/{id} (SandboxDetail: templateID, sandboxID, clientID,
    startedAt, endAt, cpuCount, memoryMB, diskSizeMB, state, envdVersion
    required), DELETE /sandboxes/{id} (204), POST /sandboxes/{id}/timeout
    (204), POST /sandboxes/{id}/connect (200 Sandbox; 409 while the sandbox
    transitions). Errors are {"code": int, "message": str}. That spec has
    no POST /v2/sandboxes and no /v2 connect; --no-v2 answers them 404, as
    such a deployment of E2B does.
  - packages/shared/pkg/proxy/template/sandbox_not_found.go, port_closed.go
    (f0d230973) and sandbox_still_transitioning.go (34278a7e9): the proxy
    in front of envd answers JSON {"sandboxId", "message", "code"} with 502
    "The sandbox was not found", 502 "The sandbox is running but port is not
    open" (plus "port"), and 409 "The sandbox is still transitioning. Try
    again in a moment.".
  - packages/envd/pkg/version.go (95f33add2): envd 0.6.13, the default
    envdVersion here.
  - packages/envd/spec/process/process.proto (01da054ac) and
    filesystem/filesystem.proto (9799dd026): process.Process Start,
    Connect, SendSignal, List; filesystem.Filesystem Stat, ListDir, MakeDir,
    Move, Remove. Messages are proto3 JSON (camelCase, int64 as strings,
    default values left out).
  - packages/envd/internal/services/process/handler/handler.go (1abece199):
    a process gets PATH, HOME, USER, LOGNAME, envd's defaults (E2B_SANDBOX,
    E2B_SANDBOX_ID, the sandbox's envVars) and the request's envs, in that
    order; no process group or session of its own.
  - .../process/signal.go (b72091f18): SendSignal signals the one PID
    (SIGTERM, SIGKILL; others unimplemented), not its group; with SIGTERM
    and SIGKILL the output is no longer forwarded (handler.go). The end
    event waits for the output pipes to close, or for that cancellation.
  - .../process/connect.go (47a7cc8f3): Connect to a process that ended
    replays its start and end events; an unknown pid is not_found.
    Being connect-go server streams, Start and Connect answer errors with
    HTTP 200 and an end-of-stream message (flag 0x02) carrying
    {"error": {"code", "message"}}; unary RPCs answer the Connect code's
    HTTP status with {"code", "message"}. Keepalive-Ping-Interval (seconds)
    sets the keepalive events' period; Connect-Timeout-Ms ends a stream with
    deadline_exceeded, and a Start's process, which otherwise outlives its
    call, is killed then (.../process/start.go, 47a7cc8f3).
  - packages/envd/internal/api/upload.go (cda4d7d13), download.go: POST
    /files takes multipart/form-data ("file" parts, the file name as the
    path when no ?path=) or application/octet-stream (optionally
    Content-Encoding gzip) and answers 200 [{"path", "name", "type"}]; GET
    /files answers the bytes, 404 for a missing file. /health answers 204
    without a token.
* the e2b package 2.63.0 on PyPI (the official Python SDK, newer than the
  commits above): e2b/api/client/api/sandboxes/post_v2_sandboxes.py and
  post_v_2_sandboxes_sandbox_id_connect.py, models/new_sandbox_v2.py and
  connect_sandbox_v2.py: the control plane it uses, POST /v2/sandboxes
  (always secured, so envdAccessToken always comes back; timeout default
  300) and POST /v2/sandboxes/{id}/connect (timeout default 300), beside
  the v1 routes above, and GET /v2/sandboxes to list.
* e2b-dev/E2B at b8029973aa7da5f741f7bb1a9f833b38a0885438:
  packages/python-sdk/e2b/envd/versions.py (e873ee94b): envd before 0.4.0
  has no default user (the SDK sends one: Basic auth "user:" on RPCs,
  ?username= on /files), before 0.5.7 it takes multipart uploads only.
  --envd-version selects such an envd here: Start, filesystem RPCs and
  /files without a user are refused (the SDK names one for those only), octet-stream uploads fail as the multipart parser fails on them,
  and (below 0.6.0, before connect.go kept ended processes) Connect to an
  ended process is not_found.

A "sandbox" is a temporary directory: /home/user maps to <root>/home/user,
and processes run as local subprocesses of this server. Arguments and
working directories under /home/user are mapped the same way. Deleting a
sandbox, or its timeout passing, kills every process whose environment
carries its E2B_SANDBOX_ID, as the VM going away would.

Test hooks, none of them part of E2B's API:

* GET /_log: every request received, as a JSON list of {method, path,
  headers, status, body, time} (plus, for a Start, the pid, "alive": the
  pids of the sandbox's processes when it came, and "cut" or "stalled" when
  its stream was cut or stalled); the body is the decoded JSON message of
  control-plane and RPC calls (null for files).
* GET /_state: the sandboxes alive, with their roots, running pids and every
  live process of theirs.
* POST /_control with JSON {"fail": [...], "cut": [...], "stall": [...]}
  adds faults, the same as the command-line flags:
  --fail METHOD:PATH_PREFIX:STATUS[:COUNT[:REASON]]  answer the next COUNT
      (default 1) requests whose method matches and whose path starts with
      the prefix with STATUS; envd paths get the proxy's bodies (502 with
      REASON "not-found", the default, or "port-closed"; 409 transitioning);
  --cut CMD:AFTER[:COUNT]  for the next COUNT Start calls running CMD (the
      cmd, or its first argument), close the connection abruptly after AFTER
      data events, without an end event, while the process goes on;
  --stall CMD:AFTER[:COUNT]  the same, but the connection stays open and
      silent (no keepalives), as a half-open connection looks.

Usage: e2b_server.py --api-key KEY [--envd-version V] [--no-v2] [--fail ...]
       [--cut ...] [--stall ...]
The first line on stdout is the port it listens on (127.0.0.1).
"""

import argparse
import base64
import datetime
import email.parser
import email.policy
import gzip
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import stat
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
SANDBOX_USER = "user"

LOCK = threading.Lock()
LOG = []
FAULTS = []  # dicts: method, prefix, status, count, reason
CUTS = []  # dicts: cmd, after, count, mode ("cut" or "stall")
SANDBOXES = {}
API_KEY = ""
ENVD_VERSION = (0, 6, 13)
V2_CONTROL_PLANE = True

# Connect error codes and their HTTP statuses (connectrpc.com/docs/protocol).
CONNECT_STATUS = {
    "invalid_argument": 400, "unauthenticated": 401, "permission_denied": 403,
    "not_found": 404, "already_exists": 409, "deadline_exceeded": 504,
    "unimplemented": 501, "internal": 500, "unknown": 500,
}


def version_string():
    return ".".join(str(p) for p in ENVD_VERSION)


def iso(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


class StreamError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class Process:
    """One process of a sandbox and the streams following its output."""

    def __init__(self, popen):
        self.popen = popen
        self.pid = popen.pid
        self.subscribers = []
        self.lock = threading.Lock()
        self.ended = None
        # Pipes at their end, or output given up on (SIGTERM, SIGKILL).
        self.output_done = threading.Condition(self.lock)
        self.pipes_open = 2
        self.output_cancelled = False

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
            if self.output_cancelled and event is not None and "data" in event:
                return
            for q in list(self.subscribers):
                q.put(event)

    def pipe_closed(self):
        with self.lock:
            self.pipes_open -= 1
            self.output_done.notify_all()

    def cancel_output(self):
        """As envd does on SIGTERM and SIGKILL: output is no longer
        forwarded, and the end no longer waits for the pipes to close."""
        with self.lock:
            self.output_cancelled = True
            self.output_done.notify_all()

    def wait_output(self):
        with self.lock:
            while self.pipes_open > 0 and not self.output_cancelled:
                self.output_done.wait()


class Sandbox:
    def __init__(self, template, metadata, timeout, env_vars, secure):
        self.id = "i" + uuid.uuid4().hex[:19]
        self.token = "envd-" + secrets.token_hex(12) if secure else None
        self.template = template
        self.metadata = metadata
        self.env_vars = env_vars
        self.root = tempfile.mkdtemp(prefix="e2b-standin-")
        self.home = os.path.join(self.root, "home", "user")
        os.makedirs(self.home)
        self.processes = {}
        self.terminated = {}
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

    def sandbox_path(self, local):
        if local == self.home or local.startswith(self.home + "/"):
            return SANDBOX_HOME + local[len(self.home):]
        return local

    def map_arg(self, arg):
        if arg == SANDBOX_HOME or arg.startswith(SANDBOX_HOME + "/"):
            return self.home + arg[len(SANDBOX_HOME):]
        return arg

    def live_pids(self):
        """Every live process whose environment says it is of this sandbox
        (the started ones and whatever they started)."""
        marker = ("E2B_SANDBOX_ID=%s" % self.id).encode()
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/environ" % name, "rb") as f:
                    if marker not in f.read().split(b"\0"):
                        continue
                with open("/proc/%s/stat" % name) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        continue
            except OSError:
                continue
            found.append(int(name))
        return sorted(found)

    def kill_all(self):
        """Kills every process of the sandbox; their streams are cut, as when
        a sandbox goes away."""
        for proc in list(self.processes.values()):
            proc.publish(None)
        for _ in range(3):
            for pid in self.live_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)

    def sandbox_json(self):
        """The Sandbox schema (create and connect)."""
        value = {
            "templateID": self.template,
            "sandboxID": self.id,
            "clientID": "6532622b",
            "envdVersion": version_string(),
            "domain": None,
            "trafficAccessToken": None,
        }
        if self.token is not None:
            value["envdAccessToken"] = self.token
        return value

    def listed_json(self):
        """The ListedSandbox schema."""
        return {
            "templateID": self.template,
            "sandboxID": self.id,
            "clientID": "6532622b",
            "startedAt": iso(self.started),
            "endAt": iso(self.end_at),
            "cpuCount": 2,
            "memoryMB": 512,
            "diskSizeMB": 1024,
            "metadata": self.metadata,
            "state": "running",
            "envdVersion": version_string(),
        }

    def detail_json(self):
        """The SandboxDetail schema."""
        value = self.listed_json()
        value["domain"] = None
        if self.token is not None:
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
                return fault
    return None


def take_cut(argv):
    with LOCK:
        for cut in CUTS:
            if cut["count"] > 0 and cut["cmd"] in argv[:2]:
                cut["count"] -= 1
                return cut
    return None


def add_fault(spec):
    parts = spec.split(":")
    FAULTS.append({
        "method": parts[0].upper(),
        "prefix": parts[1],
        "status": int(parts[2]),
        "count": int(parts[3]) if len(parts) > 3 else 1,
        "reason": parts[4] if len(parts) > 4 else "not-found",
    })


def add_cut(spec, mode):
    parts = spec.split(":")
    CUTS.append({
        "cmd": parts[0],
        "after": int(parts[1]),
        "count": int(parts[2]) if len(parts) > 2 else 1,
        "mode": mode,
    })


def pump(proc, pipe, name):
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
        proc.pipe_closed()


def watch(sandbox, proc):
    """Waits for both pipes (as envd does: a child holding them open holds
    the end back, unless the output was given up on) and the process, then
    ends every stream."""
    proc.wait_output()
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
        end["error"] = end["status"]
    with proc.lock:
        proc.ended = end
    with LOCK:
        sandbox.processes.pop(proc.pid, None)
        sandbox.terminated[proc.pid] = end
    proc.publish({"end": end})


def remove_sandbox(sandbox):
    with LOCK:
        SANDBOXES.pop(sandbox.id, None)
    sandbox.kill_all()
    shutil.rmtree(sandbox.root, ignore_errors=True)


def reaper():
    """Ends sandboxes whose timeout passed, as E2B does."""
    while True:
        time.sleep(0.5)
        now = time.time()
        with LOCK:
            expired = [s for s in SANDBOXES.values() if s.end_at <= now]
        for sandbox in expired:
            remove_sandbox(sandbox)


def entry_info(sandbox, local):
    """filesystem.EntryInfo of a path, in proto3 JSON."""
    st = os.lstat(local)
    if stat.S_ISLNK(st.st_mode):
        kind = "FILE_TYPE_SYMLINK"
    elif stat.S_ISDIR(st.st_mode):
        kind = "FILE_TYPE_DIRECTORY"
    else:
        kind = "FILE_TYPE_FILE"
    value = {
        "name": os.path.basename(local.rstrip("/")),
        "type": kind,
        "path": sandbox.sandbox_path(local),
        "size": str(st.st_size),
        "mode": stat.S_IMODE(st.st_mode),
        "permissions": stat.filemode(st.st_mode),
        "owner": SANDBOX_USER,
        "group": SANDBOX_USER,
        "modifiedTime": iso(st.st_mtime),
    }
    if kind == "FILE_TYPE_SYMLINK":
        value["symlinkTarget"] = os.readlink(local)
    return value


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

    def send(self, entry, status, body=None, content_type="application/json", headers=None):
        if entry is not None:
            entry["status"] = status
        data = b""
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def error(self, entry, status, message):
        self.send(entry, status, {"code": status, "message": message})

    def connect_error(self, entry, code, message):
        """A unary Connect error."""
        self.send(entry, CONNECT_STATUS[code], {"code": code, "message": message})

    def proxy_error(self, entry, status, sandbox_id, reason="not-found"):
        """The proxy's answer in front of envd."""
        if status == 409:
            body = {"sandboxId": sandbox_id,
                    "message": "The sandbox is still transitioning. Try again in a moment.",
                    "code": 409}
        elif reason == "port-closed":
            body = {"sandboxId": sandbox_id, "message": "The sandbox is running but port is not open",
                    "port": int(self.headers.get("E2b-Sandbox-Port") or 0), "code": 502}
        elif status == 502:
            body = {"sandboxId": sandbox_id, "message": "The sandbox was not found", "code": 502}
        else:
            body = {"code": status, "message": "injected failure"}
        self.send(entry, status, body, "application/json; charset=utf-8")

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
                boxes = list(SANDBOXES.values())
            state = {s.id: {"root": s.root, "pids": sorted(s.processes), "alive": s.live_pids()}
                     for s in boxes}
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
                        "reason": spec.get("reason", "not-found"),
                    })
                for mode in ("cut", "stall"):
                    for spec in control.get(mode, []):
                        CUTS.append({"cmd": spec["cmd"], "after": int(spec["afterData"]),
                                     "count": int(spec.get("count", 1)), "mode": mode})
            return self.send(None, 204)

        content_type = self.headers.get("Content-Type", "")
        body = None
        if content_type.startswith("application/json") and raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        if content_type.startswith("application/connect+json") and len(raw) >= 5:
            try:
                body = json.loads(raw[5:])
            except ValueError:
                body = None
        entry = self.record(body)

        routed_to_envd = self.headers.get("E2b-Sandbox-Id") is not None
        fault = take_fault(self.command, path)
        if fault is not None:
            if routed_to_envd:
                return self.proxy_error(entry, fault["status"], self.headers.get("E2b-Sandbox-Id"),
                                        fault["reason"])
            return self.error(entry, fault["status"], "injected failure")

        if routed_to_envd:
            return self.envd(entry, path, url.query, body, raw)
        if path == "/health":
            return self.send(entry, 200, {"message": "Health check successful"})
        if path.startswith("/sandboxes") or path.startswith("/v2/sandboxes"):
            return self.control_plane(entry, path, url.query, body)
        return self.error(entry, 404, "no such endpoint")

    # --- control plane --------------------------------------------------

    def control_plane(self, entry, path, query, body):
        if self.headers.get("X-API-KEY") != API_KEY:
            return self.error(
                entry, 401,
                "Invalid API key, please visit https://e2b.dev/docs?reason=sdk-missing-api-key to get your API key.",
            )
        parts = [p for p in path.split("/") if p]
        v2 = parts[:1] == ["v2"]
        if v2 and self.command == "POST" and not V2_CONTROL_PLANE:
            return self.error(entry, 404, "no such endpoint")
        if parts in (["sandboxes"], ["v2", "sandboxes"]) and self.command == "POST":
            if not isinstance(body, dict) or not body.get("templateID"):
                return self.error(entry, 400, "templateID is required")
            # v2 sandboxes are always secured and live 300 s by default.
            sandbox = Sandbox(body["templateID"], body.get("metadata") or {},
                              int(body.get("timeout", 300 if v2 else 15)), body.get("envVars") or {},
                              v2 or bool(body.get("secure")))
            with LOCK:
                SANDBOXES[sandbox.id] = sandbox
            return self.send(entry, 201, sandbox.sandbox_json())
        if parts in (["sandboxes"], ["v2", "sandboxes"]) and self.command == "GET":
            return self.list_sandboxes(entry, parts[0] == "v2", parse_qs(query))
        if v2 and self.command == "POST" and len(parts) == 4 and parts[3] == "connect":
            parts = parts[1:]
            if isinstance(body, dict):
                body.setdefault("timeout", 300)
        if parts[:1] != ["sandboxes"] or len(parts) < 2:
            return self.error(entry, 404, "no such endpoint")
        with LOCK:
            sandbox = SANDBOXES.get(parts[1])
        if sandbox is None:
            return self.error(entry, 404, "sandbox \"%s\" doesn't exist or you don't have access to it" % parts[1])
        if len(parts) == 2 and self.command == "GET":
            return self.send(entry, 200, sandbox.detail_json())
        if len(parts) == 2 and self.command == "DELETE":
            remove_sandbox(sandbox)
            return self.send(entry, 204)
        if parts[2:] == ["timeout"] and self.command == "POST":
            if not isinstance(body, dict) or not isinstance(body.get("timeout"), int):
                return self.error(entry, 400, "timeout is required")
            sandbox.end_at = time.time() + body["timeout"]
            return self.send(entry, 204)
        if parts[2:] == ["connect"] and self.command == "POST":
            if not isinstance(body, dict) or not isinstance(body.get("timeout"), int):
                return self.error(entry, 400, "timeout is required")
            # TTL is only extended.
            sandbox.end_at = max(sandbox.end_at, time.time() + body["timeout"])
            return self.send(entry, 200, sandbox.sandbox_json())
        return self.error(entry, 404, "no such endpoint")

    def list_sandboxes(self, entry, v2, params):
        wanted = {}
        for pair in (params.get("metadata", [""])[0]).split("&"):
            if "=" in pair:
                key, value = pair.split("=", 1)
                wanted[unquote(key)] = unquote(value)
        states = ",".join(params.get("state", [])).split(",")
        with LOCK:
            boxes = sorted(SANDBOXES.values(), key=lambda s: s.started, reverse=True)
        listed = [s.listed_json() for s in boxes
                  if all(s.metadata.get(k) == v for k, v in wanted.items())]
        if not v2:
            return self.send(entry, 200, listed)
        if states != [""]:
            listed = [s for s in listed if s["state"] in states]
        start = int(params.get("nextToken", ["0"])[0] or 0)
        limit = int(params.get("limit", ["100"])[0] or 100)
        page = listed[start:start + limit]
        headers = {"X-Total-Running": str(len(listed))}
        if start + limit < len(listed):
            headers["X-Next-Token"] = str(start + limit)
        return self.send(entry, 200, page, headers=headers)

    # --- envd -----------------------------------------------------------

    def envd(self, entry, path, query, body, raw):
        sandbox_id = self.headers.get("E2b-Sandbox-Id", "")
        with LOCK:
            sandbox = SANDBOXES.get(sandbox_id)
        if sandbox is None:
            return self.proxy_error(entry, 502, sandbox_id)
        if self.headers.get("E2b-Sandbox-Port") != ENVD_PORT:
            return self.proxy_error(entry, 502, sandbox_id, "port-closed")
        if path == "/health":
            return self.send(entry, 204)
        if sandbox.token is not None and self.headers.get("X-Access-Token") != sandbox.token:
            return self.error(entry, 401, "unauthorized access, please provide a valid access token or method signing if supported")
        if path == "/files":
            return self.files(entry, sandbox, parse_qs(query), raw)
        service, _, method = path.strip("/").partition("/")
        if service not in ("process.Process", "filesystem.Filesystem"):
            return self.error(entry, 404, "404 page not found")
        if self.headers.get("Connect-Protocol-Version") not in (None, "1"):
            return self.connect_error(entry, "invalid_argument", "unsupported Connect-Protocol-Version")
        user_missing = ENVD_VERSION < (0, 4, 0) and not self.headers.get("Authorization")
        if service == "process.Process" and method in ("Start", "Connect"):
            if not self.headers.get("Content-Type", "").startswith("application/connect+json"):
                return self.send(entry, 415, b"", headers={"Accept-Post": "application/connect+json"})
            if len(raw) < 5 or struct.unpack(">BI", raw[:5])[1] != len(raw) - 5 or not isinstance(body, dict):
                return self.stream_error(entry, "invalid_argument", "malformed envelope")
            if method == "Start" and user_missing:
                return self.stream_error(entry, "unauthenticated", "no user specified")
            if method == "Start":
                return self.start(entry, sandbox, body)
            return self.reconnect(entry, sandbox, body)
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return self.send(entry, 415, b"", headers={"Accept-Post": "application/json"})
        if not isinstance(body, dict):
            body = {}
        # Files are resolved for a user; signalling and listing need none.
        if service == "filesystem.Filesystem" and user_missing:
            return self.connect_error(entry, "unauthenticated", "no user specified")
        handler = {
            ("process.Process", "SendSignal"): self.send_signal,
            ("process.Process", "List"): self.list_processes,
            ("filesystem.Filesystem", "Stat"): self.fs_stat,
            ("filesystem.Filesystem", "ListDir"): self.fs_list,
            ("filesystem.Filesystem", "MakeDir"): self.fs_make_dir,
            ("filesystem.Filesystem", "Move"): self.fs_move,
            ("filesystem.Filesystem", "Remove"): self.fs_remove,
        }.get((service, method))
        if handler is None:
            return self.connect_error(entry, "unimplemented", "%s is not implemented" % path)
        try:
            return self.send(entry, 200, handler(sandbox, body))
        except StreamError as err:
            return self.connect_error(entry, err.code, err.message)

    def files(self, entry, sandbox, params, raw):
        if ENVD_VERSION < (0, 4, 0) and not params.get("username"):
            return self.error(entry, 400, "no user specified")
        target = unquote(params.get("path", [""])[0])
        if self.command == "GET":
            if not target:
                return self.error(entry, 400, "path is required")
            local = sandbox.map_path(target)
            if os.path.isdir(local):
                return self.error(entry, 400, "path '%s' is a directory" % target)
            if not os.path.isfile(local):
                return self.error(entry, 404, "path '%s' does not exist" % target)
            with open(local, "rb") as f:
                data = f.read()
            return self.send(entry, 200, data, "application/octet-stream")
        media = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        uploads = []
        if media == "application/octet-stream" and ENVD_VERSION >= (0, 5, 7):
            if not target:
                return self.error(entry, 400, "path is required")
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                raw = gzip.decompress(raw)
            uploads.append((target, raw))
        elif media.startswith("multipart/"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + self.headers.get("Content-Type", "").encode() + b"\r\n\r\n" + raw)
            if not message.is_multipart():
                return self.error(entry, 500, "error parsing multipart form")
            for part in message.iter_parts():
                if part.get_param("name", header="content-disposition") != "file":
                    continue
                name = target or part.get_filename() or ""
                uploads.append((name, part.get_payload(decode=True) or b""))
        elif ENVD_VERSION < (0, 5, 7):
            return self.error(entry, 500, "error parsing multipart form: request Content-Type isn't multipart/form-data")
        else:
            return self.error(entry, 400, "unsupported content type: %s, expected multipart/form-data or application/octet-stream" % media)
        written = []
        for name, data in uploads:
            if not name:
                return self.error(entry, 400, "path is required")
            local = sandbox.map_path(name)
            if os.path.isdir(local):
                return self.error(entry, 400, "path '%s' is a directory" % name)
            os.makedirs(os.path.dirname(local), exist_ok=True)
            with open(local, "wb") as f:
                f.write(data)
            written.append({"path": sandbox.sandbox_path(local), "name": os.path.basename(local), "type": "file"})
        return self.send(entry, 200, written)

    # --- unary RPCs -----------------------------------------------------

    def send_signal(self, sandbox, body):
        pid = int(((body.get("process") or {}).get("pid")) or 0)
        name = body.get("signal")
        signals = {"SIGNAL_SIGTERM": signal.SIGTERM, "SIGNAL_SIGKILL": signal.SIGKILL,
                   15: signal.SIGTERM, 9: signal.SIGKILL}
        with LOCK:
            proc = sandbox.processes.get(pid)
        if proc is None:
            raise StreamError("not_found", "process with pid %d not found" % pid)
        if name not in signals:
            raise StreamError("unimplemented", "invalid signal: %s" % name)
        if signals[name] in (signal.SIGTERM, signal.SIGKILL):
            proc.cancel_output()
        try:
            # The one process, as envd does: not its group.
            os.kill(proc.pid, signals[name])
        except OSError as err:
            raise StreamError("internal", "error sending signal: %s" % err)
        return {}

    def list_processes(self, sandbox, body):
        with LOCK:
            procs = list(sandbox.processes.values())
        return {"processes": [{"pid": p.pid, "config": {"cmd": p.popen.args[0], "args": p.popen.args[1:]}}
                              for p in procs]}

    def fs_path(self, sandbox, body, key="path"):
        value = body.get(key) or ""
        if not value:
            raise StreamError("invalid_argument", "%s is required" % key)
        return sandbox.map_path(value)

    def fs_stat(self, sandbox, body):
        local = self.fs_path(sandbox, body)
        if not os.path.lexists(local):
            raise StreamError("not_found", "file not found: %s" % body.get("path"))
        return {"entry": entry_info(sandbox, local)}

    def fs_list(self, sandbox, body):
        local = self.fs_path(sandbox, body)
        depth = int(body.get("depth") or 1)
        if not os.path.exists(local):
            raise StreamError("not_found", "directory not found: %s" % body.get("path"))
        if not os.path.isdir(local):
            raise StreamError("invalid_argument", "path is not a directory: %s" % body.get("path"))
        entries = []

        def walk(directory, level):
            for name in sorted(os.listdir(directory)):
                child = os.path.join(directory, name)
                entries.append(entry_info(sandbox, child))
                if level < depth and os.path.isdir(child) and not os.path.islink(child):
                    walk(child, level + 1)

        walk(local, 1)
        return {"entries": entries}

    def fs_make_dir(self, sandbox, body):
        local = self.fs_path(sandbox, body)
        if os.path.isdir(local):
            raise StreamError("already_exists", "directory already exists: %s" % body.get("path"))
        if os.path.exists(local):
            raise StreamError("invalid_argument", "path already exists but it is not a directory: %s" % body.get("path"))
        os.makedirs(local)
        return {"entry": entry_info(sandbox, local)}

    def fs_move(self, sandbox, body):
        source = self.fs_path(sandbox, body, "source")
        destination = self.fs_path(sandbox, body, "destination")
        if not os.path.lexists(source):
            raise StreamError("not_found", "source file not found: %s" % body.get("source"))
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        os.rename(source, destination)
        return {"entry": entry_info(sandbox, destination)}

    def fs_remove(self, sandbox, body):
        local = self.fs_path(sandbox, body)
        if not os.path.lexists(local):
            raise StreamError("not_found", "file not found: %s" % body.get("path"))
        if os.path.isdir(local) and not os.path.islink(local):
            shutil.rmtree(local)
        else:
            os.remove(local)
        return {}

    # --- process streams ------------------------------------------------

    def open_stream(self, entry):
        entry["status"] = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/connect+json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self, error=None):
        self.chunk(envelope({"error": error} if error else {}, flags=0x02))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def stream_error(self, entry, code, message):
        """A stream that fails: HTTP 200, then the error at its end."""
        entry["streamError"] = code
        self.open_stream(entry)
        self.end_stream({"code": code, "message": message})

    def start(self, entry, sandbox, body):
        config = body.get("process") or {}
        cmd = config.get("cmd")
        if not cmd:
            return self.stream_error(entry, "invalid_argument", "cmd is required")
        cwd = sandbox.map_path(config.get("cwd") or SANDBOX_HOME)
        if not os.path.isdir(cwd):
            return self.stream_error(entry, "invalid_argument", "cwd '%s' does not exist" % config.get("cwd"))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": sandbox.home,
            "USER": SANDBOX_USER,
            "LOGNAME": SANDBOX_USER,
            "E2B_SANDBOX": "true",
            "E2B_SANDBOX_ID": sandbox.id,
        }
        env.update({k: str(v) for k, v in sandbox.env_vars.items()})
        env.update({k: str(v) for k, v in (config.get("envs") or {}).items()})
        argv = [sandbox.map_arg(cmd)] + [sandbox.map_arg(a) for a in config.get("args") or []]
        entry["alive"] = sandbox.live_pids()
        try:
            popen = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
        except OSError as err:
            return self.stream_error(entry, "invalid_argument", "error starting process '%s': %s" % (cmd, err))
        proc = Process(popen)
        entry["pid"] = proc.pid
        with LOCK:
            sandbox.processes[proc.pid] = proc
        q = proc.subscribe()
        threading.Thread(target=pump, args=(proc, popen.stdout, "stdout"), daemon=True).start()
        threading.Thread(target=pump, args=(proc, popen.stderr, "stderr"), daemon=True).start()
        threading.Thread(target=watch, args=(sandbox, proc), daemon=True).start()
        self.stream(entry, proc, q, take_cut([cmd] + list(config.get("args") or [])))

    def reconnect(self, entry, sandbox, body):
        pid = int(((body.get("process") or {}).get("pid")) or 0)
        with LOCK:
            proc = sandbox.processes.get(pid)
            ended = sandbox.terminated.get(pid)
        q = proc.subscribe() if proc is not None else None
        if q is None:
            if proc is not None:
                ended = proc.ended
            if ended is not None and ENVD_VERSION >= (0, 6, 0):
                self.open_stream(entry)
                self.chunk(envelope({"event": {"start": {"pid": pid}}}))
                self.chunk(envelope({"event": {"end": ended}}))
                return self.end_stream()
            return self.stream_error(entry, "not_found", "process with pid %d not found" % pid)
        self.stream(entry, proc, q, None)

    def stream(self, entry, proc, q, cut):
        self.open_stream(entry)
        try:
            interval = int(self.headers.get("Keepalive-Ping-Interval") or 90)
        except ValueError:
            interval = 90
        deadline = None
        if self.headers.get("Connect-Timeout-Ms"):
            deadline = time.time() + int(self.headers["Connect-Timeout-Ms"]) / 1000
        data_events = 0
        try:
            self.chunk(envelope({"event": {"start": {"pid": proc.pid}}}))
            while True:
                wait = max(interval, 1)
                if deadline is not None:
                    wait = min(wait, max(deadline - time.time(), 0))
                try:
                    event = q.get(timeout=wait)
                except queue.Empty:
                    if deadline is not None and time.time() >= deadline:
                        proc.unsubscribe(q)
                        if entry["path"].startswith("/process.Process/Start"):
                            # The process lives in the Start call's context.
                            try:
                                os.kill(proc.pid, signal.SIGKILL)
                            except OSError:
                                pass
                        return self.end_stream({"code": "deadline_exceeded",
                                                "message": "context deadline exceeded"})
                    self.chunk(envelope({"event": {"keepalive": {}}}))
                    continue
                if event is None:
                    # The sandbox was killed: the connection just goes.
                    raise ConnectionAbortedError()
                self.chunk(envelope({"event": event}))
                if "end" in event:
                    return self.end_stream()
                if "data" in event:
                    data_events += 1
                    if cut is not None and data_events >= cut["after"]:
                        if cut["mode"] == "stall":
                            entry["stalled"] = True
                            proc.unsubscribe(q)
                            # Silent, as a half-open connection is, until
                            # the client gives up on it.
                            while self.connection.recv(1):
                                pass
                            raise ConnectionAbortedError()
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
    global API_KEY, ENVD_VERSION, V2_CONTROL_PLANE
    parser = argparse.ArgumentParser(description="A stand-in for E2B's HTTP API (not E2B).")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--envd-version", default=version_string())
    parser.add_argument("--no-v2", action="store_true",
                        help="no POST /v2/sandboxes and /v2 connect, as infra's spec at 54693ff")
    parser.add_argument("--fail", action="append", default=[])
    parser.add_argument("--cut", action="append", default=[])
    parser.add_argument("--stall", action="append", default=[])
    args = parser.parse_args()
    API_KEY = args.api_key
    V2_CONTROL_PLANE = not args.no_v2
    ENVD_VERSION = tuple(int(p) for p in args.envd_version.split("."))
    for spec in args.fail:
        add_fault(spec)
    for spec in args.cut:
        add_cut(spec, "cut")
    for spec in args.stall:
        add_cut(spec, "stall")
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=reaper, daemon=True).start()
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
