#!/usr/bin/env python3
"""A scripted stand-in for the model APIs the agents' CLIs speak, for
end-to-end tests.

The real CLIs run against it: they send real requests, make real tool calls
and fire real hooks; only the model's answers come from a script. It speaks,
each as its published reference describes it:

- the Anthropic Messages API (`POST /v1/messages`, streamed as server-sent
  events; `count_tokens`), for Claude Code (ANTHROPIC_BASE_URL);
- the OpenAI Responses API (`POST /v1/responses` with `stream: true`:
  `response.created`, `response.output_item.done`, `response.completed`
  with `usage`), for the Codex CLI through a custom model provider;
- the Gemini API's `models/MODEL:streamGenerateContent?alt=sse`
  (candidates with `text` or `functionCall` parts, `usageMetadata`), for the
  Gemini CLI (GOOGLE_GEMINI_BASE_URL);
- the OpenAI Chat Completions API (`POST /v1/chat/completions`, streamed as
  `chat.completion.chunk` events or whole; `GET /v1/models`), for Aider and
  OpenCode through an OpenAI-compatible base URL.

Each answer depends on the conversation so far, so any number of agent
processes can share one server:

- a request whose conversation holds fewer tool results than the script has
  commands gets the next step: a call of the agent's shell tool (`Bash`,
  `exec_command`, `run_shell_command`, `bash`) with the script's command,
  or, on the Messages API, for a step written {"tool": NAME, "input": {...}},
  of the tool the request offers under NAME (or whose name ends in
  `__NAME`, as Claude Code names an MCP server's tools
  `mcp__<server>__<tool>`); a step whose tool is not offered is answered
  with a text naming the tools that were;
- then the answer is the script's final text;
- requests without tools (titles, summaries) get a short text;
- an agent that edits through its replies rather than tools (Aider) gets
  the script's "reply" text, when the script has one, instead of "final";
  its request for a commit message (a system message asking for one) gets
  the script's "commit" text, when it has one.

Usage: model_server.py SCRIPT.json PORT_FILE
SCRIPT.json: {"commands": ["echo hi", ...], "final": "done", "delay": 0,
"reply": "...", "commit": "..."}; a
command may also be {"tool": NAME, "input": {...}} (Messages API) or
{"tool": NAME, "args": {...}} (Gemini API), a call of another tool; with
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


def data_line(data):
    return f"data: {json.dumps(data)}\n\n".encode()


def next_step(tools, shell_tool, done):
    """The script's command number `done` when the agent offers its shell
    tool and has not run them all yet, else None (the final answer)."""
    commands = SCRIPT.get("commands", [])
    if shell_tool in tools and done < len(commands):
        return commands[done]
    return None


def final_text(tools):
    if not tools:
        return "Scripted session"
    return SCRIPT.get("final", "done")


# The OpenAI Responses API (Codex CLI).

def responses_reply(body):
    items = body.get("input") or []
    done = sum(1 for item in items if isinstance(item, dict) and item.get("type") == "function_call_output")
    tools = [t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)]
    command = next_step(tools, "exec_command", done)
    if command is not None:
        item = {"type": "function_call", "id": f"fc_{done:04d}", "call_id": f"call_{done:04d}",
                "name": "exec_command", "arguments": json.dumps({"cmd": command})}
    else:
        item = {"type": "message", "id": "msg_scripted", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": final_text(tools), "annotations": []}]}
    usage = {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 120}
    response = {"id": "resp_scripted", "object": "response", "model": body.get("model", ""),
                "status": "in_progress", "output": []}
    return b"".join([
        sse("response.created", {"type": "response.created", "response": response}),
        sse("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}),
        sse("response.completed", {"type": "response.completed",
                                   "response": dict(response, status="completed", output=[item], usage=usage)}),
    ])


# The Gemini API (Gemini CLI).

def gemini_reply(body):
    contents = body.get("contents") or []
    done = sum(1 for content in contents for part in content.get("parts") or []
               if isinstance(part, dict) and "functionResponse" in part)
    tools = [d.get("name") for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
    command = next_step(tools, "run_shell_command", done)
    if isinstance(command, dict):
        # A step that names another of its tools: {"tool": "write_file", "args": {...}}.
        part = {"functionCall": {"name": command["tool"], "args": command["args"]}}
    elif command is not None:
        part = {"functionCall": {"name": "run_shell_command", "args": {"command": command}}}
    else:
        part = {"text": final_text(tools)}
    chunk = {"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
             "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 120},
             "modelVersion": "scripted"}
    return data_line(chunk)


# The OpenAI Chat Completions API (Aider, OpenCode).

def chat_message(body):
    messages = body.get("messages") or []
    done = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "tool")
    tools = [(t.get("function") or {}).get("name") for t in body.get("tools") or [] if isinstance(t, dict)]
    command = next_step(tools, "bash", done)
    if isinstance(command, dict):
        # A step that names another of its tools: {"tool": "write", "args": {...}}.
        name, arguments = command["tool"], command["args"]
    elif command is not None:
        name, arguments = "bash", {"command": command, "description": "scripted step"}
    if command is not None:
        call = {"id": f"call_{done:04d}", "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)}}
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    # Aider offers no tools: its edits are in the reply's text, and it asks
    # for each commit's message in a conversation of its own.
    if tools:
        text = final_text(tools)
    elif asks_for_commit_message(messages) and "commit" in SCRIPT:
        text = SCRIPT["commit"]
    else:
        text = SCRIPT.get("reply", "Scripted session")
    return {"role": "assistant", "content": text}, "stop"


def asks_for_commit_message(messages):
    system = " ".join(str(m.get("content")) for m in messages
                      if isinstance(m, dict) and m.get("role") == "system")
    return "commit message" in system


def chat_reply(body):
    message, finish = chat_message(body)
    usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    base = {"id": "chatcmpl-scripted", "created": int(time.time()), "model": body.get("model", "")}
    if not body.get("stream"):
        return dict(base, object="chat.completion", usage=usage,
                    choices=[{"index": 0, "message": message, "finish_reason": finish}]), None
    delta = dict(message)
    if delta.get("tool_calls"):
        delta["tool_calls"] = [dict(call, index=i) for i, call in enumerate(delta["tool_calls"])]
    chunks = [
        dict(base, object="chat.completion.chunk", choices=[{"index": 0, "delta": delta, "finish_reason": None}]),
        dict(base, object="chat.completion.chunk", choices=[{"index": 0, "delta": {}, "finish_reason": finish}]),
        dict(base, object="chat.completion.chunk", choices=[], usage=usage),
    ]
    return None, b"".join(data_line(c) for c in chunks) + b"data: [DONE]\n\n"


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
        self.send_json(200, {"object": "list", "data": [], "has_more": False})

    def pause(self, tools):
        if tools and SCRIPT.get("delay"):
            time.sleep(float(SCRIPT["delay"]))

    def send_stream(self, payload):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()
        self.close_connection = True

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
        if path.endswith("/responses"):
            self.pause(body.get("tools"))
            self.send_stream(responses_reply(body))
            return
        if path.endswith(":streamGenerateContent"):
            self.pause(body.get("tools"))
            self.send_stream(gemini_reply(body))
            return
        if path.endswith(":generateContent") or path.endswith(":countTokens"):
            reply = json.loads(gemini_reply(body)[len(b"data: "):])
            self.send_json(200, reply if path.endswith(":generateContent") else {"totalTokens": 100})
            return
        if path.endswith("/chat/completions"):
            self.pause(body.get("tools"))
            whole, stream = chat_reply(body)
            if whole is not None:
                self.send_json(200, whole)
            else:
                self.send_stream(stream)
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
