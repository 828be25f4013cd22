"""An MCP server offering the same derived tools (official ``mcp`` SDK, low-level server).

``vcell mcp`` serves over stdio (default) or streamable HTTP bound to 127.0.0.1
(``--http PORT``, path ``/mcp``). The tool list, JSON schemas and argument validation are
exactly those of :class:`~virtualcell.agent.Toolbox` (one mechanism): ``tools/list``
returns each tool's ``input_schema``; ``tools/call`` validates, runs, stores the result in
the server's workspace and returns the summary as text plus ``{"handle", "summary"}`` as
structured content, so a client can pass the handle to the next call. A failed call is a
result with ``is_error`` and one line of text, whatever the arguments (wrong types,
unknown or missing arguments, a handle of the wrong kind, values a tool refuses) and
even when a tool has a bug: never a protocol error or a server traceback.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .._errors import VirtualCellError
from ._tools import Toolbox

__all__ = ["make_server", "serve"]

INSTRUCTIONS = (
    "virtualcell tools: a gene knowledge base (search, gene records, GO, TF targets, claim "
    "verification, enrichment), simulation, GRN inference and single-cell analyses. Large "
    "results stay on the server; pass their handle (e.g. 'r1') to later calls."
)


def make_server(toolbox: Toolbox, *, name: str = "virtualcell"):
    """A low-level :class:`mcp.server.lowlevel.Server` serving ``toolbox``'s tools."""
    try:
        import mcp.types as types
        from mcp.server.lowlevel import Server
    except ImportError as err:  # pragma: no cover
        raise VirtualCellError(
            "the MCP server needs the mcp package: pip install 'virtualcell[agent]'"
        ) from err
    from .._version import __version__

    listing = [
        types.Tool(name=t["name"], description=t["description"], input_schema=t["input_schema"])
        for t in toolbox.describe()
    ]
    lock = asyncio.Lock()

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=listing)

    async def call_tool(ctx: Any, params: Any) -> Any:
        try:
            async with lock:  # one workspace: calls run one at a time, off the event loop
                result = await asyncio.to_thread(toolbox.call, params.name, params.arguments)
        except Exception as err:  # never a protocol error or a server traceback
            text = f"error: internal error in {params.name}: {type(err).__name__}: {err}"
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=text.splitlines()[0][:300])],
                is_error=True,
            )
        if not result.ok:
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=result.observation)], is_error=True
            )
        res = result.result
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result.observation)],
            structured_content={"handle": res.handle, "summary": res.summary, "digest": res.digest},
        )

    return Server(
        name,
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def _serve_stdio(server: Any) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


async def _serve_http(server: Any, port: int) -> None:
    import uvicorn

    app = server.streamable_http_app(host="127.0.0.1")
    config = uvicorn.Config(app, host="127.0.0.1", port=int(port), log_level="warning")
    await uvicorn.Server(config).serve()


def serve(toolbox: Toolbox, *, http_port: int | None = None) -> None:
    """Serve ``toolbox`` over stdio, or over streamable HTTP on 127.0.0.1:``http_port``."""
    server = make_server(toolbox)
    if http_port is None:
        asyncio.run(_serve_stdio(server))
    else:
        asyncio.run(_serve_http(server, http_port))
