"""Drives Autonoma's MCP server (`/mcp`) with the official MCP Python SDK.

Run by `cli/tests/mcp_server.rs` with the SDK installed in a virtual environment (see
`requirements.txt` here). It connects in one mode, does what an MCP client does, and prints
one JSON document of what it saw on stdout; the Rust test asserts on it.

    python client.py --url http://127.0.0.1:PORT/mcp --key ak_... --mode modern \
        --tool NAME --message "What is 17*23?" --foreign-tool NAME

Modes:
  modern  `Client(mode="auto")`: the SDK probes `server/discover` and, when the server
          offers it, speaks the sessionless 2026-07-28 revision.
  legacy  `Client(mode="legacy")`: the `initialize` handshake, 2025-11-25.

Besides the SDK session it sends raw HTTP (with the SDK's own httpx2) for what a client
library hides: `server/discover` itself, requests with a bad or no key (the 401 and its
`WWW-Authenticate` challenge) and the protected resource metadata the challenge names.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import LATEST_MODERN_VERSION

TIMEOUT = httpx2.Timeout(30.0, read=300.0)


def client_for(url: str, key: str, mode: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT)
    transport = streamable_http_client(url, http_client=http)
    return Client(transport, mode="auto" if mode == "modern" else "legacy")


def dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def session_checks(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with client_for(args.url, args.key, args.mode) as client:
        out["protocol_version"] = client.protocol_version
        info = client.server_info
        out["server_name"] = info.name if info is not None else None
        out["has_tools_capability"] = client.server_capabilities.tools is not None

        tools = await client.list_tools()
        out["tools"] = [dump(t) for t in tools.tools]

        progress: list[dict[str, Any]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append({"progress": value, "total": total, "message": message})

        result = await client.call_tool(
            args.tool, {"message": args.message}, progress_callback=on_progress
        )
        out["call"] = dump(result)
        out["progress"] = progress

        bad_args = await client.call_tool(args.tool, {"text": "no message field"})
        out["bad_arguments"] = dump(bad_args)

        try:
            foreign = await client.call_tool(args.foreign_tool, {"message": args.message})
            out["foreign_call"] = {"result": dump(foreign)}
        except MCPError as e:
            out["foreign_call"] = {"error": {"code": e.code, "message": e.error.message}}
    return out


async def raw_checks(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    discover = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "server/discover",
        "params": {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": LATEST_MODERN_VERSION,
                "io.modelcontextprotocol/clientInfo": {"name": "autonoma-test", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        },
    }
    async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
        res = await http.post(
            args.url,
            json=discover,
            headers={
                **headers,
                "Authorization": f"Bearer {args.key}",
                "MCP-Protocol-Version": LATEST_MODERN_VERSION,
                "Mcp-Method": "server/discover",
            },
        )
        out["discover"] = {"status": res.status_code, "body": res.json()}

        unauthorized = {}
        for label, extra in [("bad_key", {"Authorization": "Bearer ak_not_a_real_key"}), ("no_key", {})]:
            res = await http.post(args.url, json=discover, headers={**headers, **extra})
            unauthorized[label] = {
                "status": res.status_code,
                "www_authenticate": res.headers.get("www-authenticate"),
                "content_type": res.headers.get("content-type"),
                "body": res.json(),
            }
        out["unauthorized"] = unauthorized

        challenge = unauthorized["no_key"]["www_authenticate"] or ""
        m = re.search(r'resource_metadata="([^"]+)"', challenge)
        if m:
            res = await http.get(m.group(1))
            out["resource_metadata"] = {
                "url": m.group(1),
                "status": res.status_code,
                "body": res.json(),
            }
            docs = res.json().get("resource_documentation")
            if docs:
                res = await http.get(docs)
                out["resource_documentation"] = {
                    "status": res.status_code,
                    "content_type": res.headers.get("content-type"),
                    "has_server_section": "## Server" in res.text,
                }
    return out


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--mode", choices=["modern", "legacy"], required=True)
    p.add_argument("--tool", required=True)
    p.add_argument("--message", required=True)
    p.add_argument("--foreign-tool", required=True)
    args = p.parse_args()
    report = {"mode": args.mode}
    report.update(await session_checks(args))
    report.update(await raw_checks(args))
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
