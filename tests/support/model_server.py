#!/usr/bin/env python3
"""A scripted stand-in for the Anthropic Messages API, for end-to-end tests.

Claude Code runs for real against it (ANTHROPIC_BASE_URL=http://127.0.0.1:PORT):
it sends real requests, makes real tool calls and fires real hooks; only the
model's answers come from a script. Each answer depends on the conversation
so far, so any number of Claude Code processes can share one server:

- a request whose last message carries no tool result gets the next step of
  the script: a `tool_use` of the Bash tool with the script's command, or,
  for a step written {"tool": NAME, "input": {...}}, of the tool the
  request offers under NAME (or whose name ends in `__NAME`, as Claude Code
  names an MCP server's tools `mcp__<server>__<tool>`); a step whose tool
  is not offered is answered with a text naming the tools that were;
- once the conversation holds as many tool results as the script has
  commands, the answer is the script's final text (stop_reason end_turn);
- requests without tools (titles, summaries) get a short text.

Usage: model_server.py SCRIPT.json PORT_FILE
SCRIPT.json: {"commands": ["echo hi", ...], "final": "done", "delay": 0}; with
"delay" (seconds) each answer to a request with tools waits that long first,
so a test can see the agent working. The server binds
127.0.0.1 on a free port, writes the port to PORT_FILE, logs each request's
path and body as JSON lines to PORT_FILE + ".log", and serves until killed.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCRIPT = {}
LOG_LOCK = threading.Lock()
LOG_PATH = None


def tool_results(messages):
    count = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            count += sum(1 for block in content if isinstance(block, dict) and block.get("type") == "tool_result")
    return count


def reply_blocks(body):
    tools = [t.get("name") for t in body.get("tools") or []]
    commands = SCRIPT.get("commands", [])
    done = tool_results(body.get("messages", []))
    if "Bash" in tools and done < len(commands):
        step = commands[done]
        if isinstance(step, dict):
            wanted = step["tool"]
            offered = [t for t in tools if t == wanted or (t or "").endswith("__" + wanted)]
            if not offered:
                return [{"type": "text", "text": f"tool {wanted} not offered; offered: {tools}"}], "end_turn"
            return [{"type": "tool_use", "id": f"toolu_{done:04d}", "name": offered[0],
                     "input": step.get("input", {})}], "tool_use"
        return [{"type": "tool_use", "id": f"toolu_{done:04d}", "name": "Bash",
                 "input": {"command": step, "description": "scripted step"}}], "tool_use"
    text = SCRIPT.get("final", "done") if "Bash" in tools else "Scripted session"
    return [{"type": "text", "text": text}], "end_turn"


def sse(event, data):
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self):
        self.send_json(200, {"data": [], "has_more": False})

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        with LOG_LOCK:
            with open(LOG_PATH, "a") as log:
                log.write(json.dumps({"path": self.path, "body": body}) + "\n")
        path = self.path.split("?")[0]
        if path.endswith("/count_tokens"):
            self.send_json(200, {"input_tokens": 100})
            return
        if not path.endswith("/v1/messages"):
            self.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})
            return
        blocks, stop_reason = reply_blocks(body)
        if body.get("tools") and SCRIPT.get("delay"):
            time.sleep(float(SCRIPT["delay"]))
        model = body.get("model", "claude-sonnet-4-5")
        usage = {"input_tokens": 100, "output_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        message = {"id": "msg_scripted", "type": "message", "role": "assistant", "model": model,
                   "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}
        if not body.get("stream"):
            message.update(content=blocks, stop_reason=stop_reason)
            self.send_json(200, message)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        out = [sse("message_start", {"type": "message_start", "message": message})]
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                out.append(sse("content_block_start", {"type": "content_block_start", "index": index,
                                                       "content_block": {"type": "text", "text": ""}}))
                out.append(sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                       "delta": {"type": "text_delta", "text": block["text"]}}))
            else:
                start = dict(block, input={})
                out.append(sse("content_block_start", {"type": "content_block_start", "index": index,
                                                       "content_block": start}))
                out.append(sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                       "delta": {"type": "input_json_delta",
                                                                 "partial_json": json.dumps(block["input"])}}))
            out.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        out.append(sse("message_delta", {"type": "message_delta",
                                         "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                         "usage": {"output_tokens": 20}}))
        out.append(sse("message_stop", {"type": "message_stop"}))
        self.wfile.write(b"".join(out))
        self.wfile.flush()
        self.close_connection = True


def main():
    global SCRIPT, LOG_PATH
    with open(sys.argv[1]) as f:
        SCRIPT = json.load(f)
    port_file = sys.argv[2]
    LOG_PATH = port_file + ".log"
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
