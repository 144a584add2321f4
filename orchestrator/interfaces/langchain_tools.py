"""visorch's tools as LangChain tools, so another LangChain / LangGraph agent can call them.

``visorch.langchain_tools()`` returns one ``StructuredTool`` per installed tool whose arguments are
files, text, numbers or booleans, built from the same tool description as the planner's prompt:
the same name, argument names, types, defaults and descriptions. Each returns the result as JSON.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from visorch.interfaces.signatures import arguments_model
from visorch.interfaces.tool_calls import ToolCaller, tool_help
from visorch.runtime import Runtime
from visorch.tools.errors import VisorchError

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool


def langchain_tools(runtime: Runtime | None = None) -> list[BaseTool]:
    """The installed visorch tools as LangChain ``StructuredTool`` objects over one shared runtime."""
    from langchain_core.tools import StructuredTool, ToolException

    caller = ToolCaller(runtime or Runtime.create())
    tools: list[BaseTool] = []
    for spec in caller.offered():

        def make_call(name: str) -> Any:
            def call(**arguments: Any) -> str:
                given = {key: value for key, value in arguments.items() if value is not None}
                try:
                    return json.dumps(caller.call(name, given).to_json())
                except VisorchError as error:  # handed back to the calling agent as the tool's message
                    raise ToolException(str(error)) from error

            return call

        tools.append(
            StructuredTool.from_function(
                func=make_call(spec.name),
                name=spec.name,
                description=tool_help(spec),
                args_schema=arguments_model(spec),
                handle_tool_error=True,
            )
        )
    return tools
