"""Python call signatures rendered from tool specs, for frameworks that read functions (MCP, LangChain)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, Field, create_model
from visorch.interfaces.tool_calls import argument_help, python_type
from visorch.tools.registry import ToolSpec


def _annotation(spec: ToolSpec, name: str) -> Any:
    param = spec.param(name)
    assert param is not None
    base: Any = python_type(param)
    if not param.required:
        base = base | None
    return Annotated[base, Field(description=argument_help(param))]


def with_signature(spec: ToolSpec, call: Callable[[dict[str, Any]], Any], is_async: bool) -> Callable[..., Any]:
    """A function named after the tool whose keyword parameters are the tool's arguments.

    Frameworks that build a JSON schema from a function's signature (MCP's ``add_tool``) then show
    the same argument names, types, defaults and descriptions as the planner's tool card.
    """
    parameters = [
        inspect.Parameter(
            param.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=inspect.Parameter.empty if param.required else param.default,
            annotation=_annotation(spec, param.name),
        )
        for param in spec.params
    ]
    function: Callable[..., Any]
    if is_async:

        async def run_async(**arguments: Any) -> Any:
            return await call(arguments)

        function = run_async
    else:

        def run(**arguments: Any) -> Any:
            return call(arguments)

        function = run

    described: Any = function  # a plain function object, given the tool's name, docstring and signature
    described.__name__ = spec.name
    described.__qualname__ = spec.name
    described.__doc__ = spec.summary
    described.__signature__ = inspect.Signature(parameters, return_annotation=str)
    described.__annotations__ = {param.name: _annotation(spec, param.name) for param in spec.params} | {"return": str}
    return function


def arguments_model(spec: ToolSpec) -> type[BaseModel]:
    """A pydantic model of the tool's arguments (LangChain's ``args_schema``)."""
    fields: dict[str, Any] = {}
    for param in spec.params:
        default = ... if param.required else param.default
        fields[param.name] = (_annotation(spec, param.name), default)
    return create_model(f"{spec.name.title()}Arguments", **fields)
