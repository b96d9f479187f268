#!/usr/bin/env python3
"""A stand-in for the one GitHub REST API endpoint --git-live uses, for
testing offline. It is not GitHub.

* POST /repos/{owner}/{repo}/pulls: checks `Authorization: Bearer <token>`
  (401 with GitHub's error body otherwise), records the request's JSON and
  headers, and answers 201 with a pull request whose html_url points back
  at this server.
* GET /_log: what it received, as a JSON list of {method, path, headers,
  body, status}.

Usage: github_server.py --token TOKEN
The first line on stdout is the port it listens on (127.0.0.1).
"""

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
LOG = []
TOKEN = ""
NUMBERS = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, value):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_log":
            with LOCK:
                return self.reply(200, LOG)
        return self.reply(404, {"message": "Not Found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        entry = {
            "method": "POST",
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items()},
            "body": body,
            "status": None,
        }
        with LOCK:
            LOG.append(entry)
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if len(parts) != 4 or parts[0] != "repos" or parts[3] != "pulls":
            entry["status"] = 404
            return self.reply(404, {"message": "Not Found"})
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            entry["status"] = 401
            return self.reply(401, {"message": "Bad credentials",
                                    "documentation_url": "https://docs.github.com/rest"})
        if not isinstance(body, dict) or not all(body.get(k) for k in ("title", "head", "base")):
            entry["status"] = 422
            return self.reply(422, {"message": "Validation Failed"})
        owner, repo = parts[1], parts[2]
        with LOCK:
            number = NUMBERS.get((owner, repo), 0) + 1
            NUMBERS[(owner, repo)] = number
        port = self.server.server_address[1]
        entry["status"] = 201
        self.reply(201, {
            "number": number,
            "state": "open",
            "draft": bool(body.get("draft")),
            "title": body["title"],
            "body": body.get("body"),
            "html_url": "http://127.0.0.1:%d/%s/%s/pull/%d" % (port, owner, repo, number),
            "url": "http://127.0.0.1:%d/repos/%s/%s/pulls/%d" % (port, owner, repo, number),
            "head": {"ref": body["head"]},
            "base": {"ref": body["base"]},
        })


def main():
    global TOKEN
    parser = argparse.ArgumentParser(description="A stand-in for GitHub's pull request API (not GitHub).")
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    TOKEN = args.token
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
