"""An MCP server with a side effect, for cli/tests/chaos.rs: a ledger that honours
idempotency keys the way payment APIs do.

The MCP Python SDK (pinned in requirements.txt) serves the streamable HTTP endpoint at /mcp.
Its one tool, `post_entry(account, amount)`, posts an entry to an in-memory ledger. The
caller's idempotency key is read from the request's `_meta["io.autonoma/idempotency-key"]`
(what Autonoma sends with every MCP tool call): the first call with a key applies the entry;
a repeat with the same key (a retry or a resumed run) applies nothing and answers the same.
A call without a key is applied every time (and counted, so the test can see it).

GET /test/ledger answers what happened, as JSON:
  {"calls": {key: number of calls}, "applied": {key: account}, "unkeyed": n}

Usage: python ledger_server.py --port P
"""

import argparse
from collections import Counter

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from starlette.requests import Request
from starlette.responses import JSONResponse

IDEMPOTENCY_META_KEY = "io.autonoma/idempotency-key"


def meta_of(ctx: Context) -> dict:
    meta = ctx.request_context.meta
    if meta is None:
        return {}
    if isinstance(meta, dict):
        return meta
    return meta.model_dump(by_alias=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    calls: Counter = Counter()
    applied: dict[str, str] = {}
    unkeyed = 0
    server = MCPServer(name="ledger")

    @server.tool(
        description="Posts `amount` to `account` in the ledger. Not read-only; idempotent per "
        "idempotency key.",
        annotations=ToolAnnotations(readOnlyHint=False, idempotentHint=True, destructiveHint=False),
    )
    def post_entry(account: str, amount: int, ctx: Context) -> str:
        nonlocal unkeyed
        key = meta_of(ctx).get(IDEMPOTENCY_META_KEY)
        if key is None:
            unkeyed += 1
        else:
            calls[key] += 1
            applied.setdefault(key, account)
        return f"ledger ok <{account}> {amount}"

    @server.custom_route("/test/ledger", methods=["GET"])
    async def ledger(_: Request) -> JSONResponse:
        return JSONResponse({"calls": dict(calls), "applied": applied, "unkeyed": unkeyed})

    app = server.streamable_http_app()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
