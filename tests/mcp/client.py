#!/usr/bin/env python3
"""Drives pcc-mcp with the official MCP Python SDK (ClientSession over
stdio_client) and prints what it saw as one JSON object.

  client.py basic SERVER        initialize, list tools, call get_parallel_status and get_my_session
  client.py concurrent SERVER   two servers at once, twenty concurrent tool calls between them
  client.py calls SERVER CALLS  the tool calls CALLS (a JSON list of [name, arguments]), one after another

The server inherits this process's environment (PARALLEL_CC_DATA_DIR,
PARALLEL_CC_SESSION_ID, ...).
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def params(server):
    return StdioServerParameters(command=server, args=[], env=dict(os.environ), cwd=os.getcwd())


def structured(result):
    return {"isError": bool(result.is_error), "structured": result.structured_content,
            "text": [c.text for c in result.content if getattr(c, "type", "") == "text"]}


async def basic(server):
    async with stdio_client(params(server)) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            status = await session.call_tool("get_parallel_status", {})
            mine = await session.call_tool("get_my_session", {})
            return {
                "protocolVersion": init.protocol_version,
                "serverName": init.server_info.name,
                "tools": [tool.name for tool in tools.tools],
                "status": structured(status),
                "mine": structured(mine),
            }


async def concurrent(server):
    async with stdio_client(params(server)) as (read_a, write_a), stdio_client(params(server)) as (read_b, write_b):
        async with ClientSession(read_a, write_a) as a, ClientSession(read_b, write_b) as b:
            await asyncio.gather(a.initialize(), b.initialize())
            calls = []
            for i in range(20):
                session = a if i % 2 == 0 else b
                name = "get_parallel_status" if i % 3 else "get_my_session"
                calls.append(session.call_tool(name, {}))
            results = await asyncio.gather(*calls, return_exceptions=True)
            return {"results": [structured(r) if not isinstance(r, Exception) else {"exception": repr(r)}
                                for r in results]}


async def calls(server, requests):
    async with stdio_client(params(server)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            results = []
            for name, arguments in requests:
                results.append(structured(await session.call_tool(name, arguments)))
            return {"results": results}


def main():
    mode, server = sys.argv[1], sys.argv[2]
    if mode == "calls":
        outcome = asyncio.run(calls(server, json.loads(sys.argv[3])))
    else:
        outcome = asyncio.run(basic(server) if mode == "basic" else concurrent(server))
    print(json.dumps(outcome))


if __name__ == "__main__":
    main()
