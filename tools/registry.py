"""The tool registry: each tool is described once, in code, and everything else is rendered from it.

A tool is a typed Python function decorated with :func:`tool`. Its name, parameter type hints
(``Annotated[type, "description"]``), return type, docstring, limitations and example line make
a :class:`ToolSpec`; the planner prompt, the decoding grammar, the ``visorch tools`` listing and
the docs are all rendered from that spec, so they cannot disagree.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args, get_origin

from visorch.tools.capability import Capability
from visorch.tools.errors import ToolArgumentError, UnknownToolError
from visorch.tools.models.cache import result_key
from visorch.tools.models.handle import ModelHandle
from visorch.tools.models.protocols import CAPABILITY_PROTOCOLS
from visorch.tools.types import ValueKind, accepts, coerce, kind_of, kind_of_value, literal_choices, strip_optional

if TYPE_CHECKING:
    from visorch.tools.context import ToolContext
    from visorch.tools.models.backend import Backend

CONTEXT_PARAMETER = "ctx"
"""A tool function parameter with this name receives the :class:`ToolContext`."""

VARIABLES_PARAMETER = "variables"
"""A tool function parameter with this name receives the program variables its expression uses."""

MODEL_PARAMETER = "model"
"""A tool function parameter with this name, typed ``ModelHandle[Protocol]``, receives the backend chosen for the
call and typed access to its model (tools with a ``capability`` only)."""

DEFAULT_EVIDENCE_LIMIT = 600
"""Characters of a step's output the agent's evidence keeps, unless the tool says otherwise."""

PARSED_PARAMETER = "parsed"
"""A tool function parameter with this name receives its expression as the validator parsed it (None when the
tool is called outside a program, e.g. ``evaluate(ctx, expr=...)``)."""

_SPECIAL_PARAMETERS = {CONTEXT_PARAMETER, VARIABLES_PARAMETER, PARSED_PARAMETER, MODEL_PARAMETER}


@dataclass(frozen=True)
class Range:
    """The values a numeric argument may take, declared once in its annotation.

    ``Annotated[float, Range(0, 1), "..."]``: the validator checks literals against it, the
    tool checks run-time values, and the tool card and grammar show it. ``None`` leaves a side open.
    """

    minimum: float | None = None
    maximum: float | None = None

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the range (ends included)."""
        if self.minimum is not None and value < self.minimum:
            return False
        return self.maximum is None or value <= self.maximum

    def label(self) -> str:
        """``0 to 1``, ``at least 0`` or ``at most 5``."""
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return f"{low:g} to {high:g}"
        if low is not None:
            return f"at least {low:g}"
        return f"at most {high:g}" if high is not None else "any number"

    def problem(self, name: str, value: float) -> str | None:
        """Why ``value`` cannot be argument ``name``, or None when it fits."""
        if self.contains(value):
            return None
        return f"'{name}' must be {self.label()}; got {value!r}"


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a tool, as the program language sees it."""

    name: str
    kind: ValueKind
    annotation: Any
    description: str
    required: bool
    default: Any = None
    choices: tuple[str, ...] | None = None
    optional_none: bool = False
    value_range: Range | None = None
    """The numbers this argument accepts (numeric arguments only)."""

    def type_label(self) -> str:
        """The kind, with choices when the value is one of a fixed set, or its range when numeric."""
        if self.choices:
            return " | ".join(repr(choice) for choice in self.choices)
        if self.value_range is not None:
            return f"{self.kind.value} ({self.value_range.label()})"
        return self.kind.value


@dataclass(frozen=True)
class ToolSpec:
    """Everything the language, prompt, grammar and docs need to know about one tool."""

    name: str
    summary: str
    description: str
    params: tuple[ParamSpec, ...]
    output: ValueKind
    example: str
    limitations: str = ""
    category: str = "general"
    capability: Capability | None = None
    """Model capability this tool needs; None for tools without models."""
    cacheable: bool = False
    expression_param: str | None = None
    """The parameter holding an expression over program variables (EVAL)."""
    offered_to_planner: bool = True
    """Whether the planner may call it (LOAD is not: the planner must not open files by path)."""
    listed_in_prompt: bool = True
    """Whether the planner prompt shows its card (RESULT is explained by the prompt's own rules)."""
    evidence_limit: int = DEFAULT_EVIDENCE_LIMIT
    """Characters of its output kept in the agent's evidence (long for text readers); 0 leaves a successful step
    out of the evidence (RESULT repeats the step it names)."""

    def param(self, name: str) -> ParamSpec | None:
        """The parameter called ``name``, if any."""
        return next((param for param in self.params if param.name == name), None)

    @property
    def required_params(self) -> list[ParamSpec]:
        """Parameters without a default."""
        return [param for param in self.params if param.required]

    def signature(self) -> str:
        """``NAME(a: kind, b: kind = default) -> kind``."""
        parts = []
        for param in self.params:
            text = f"{param.name}: {param.type_label()}"
            if not param.required:
                text += f" = {param.default!r}"
            parts.append(text)
        return f"{self.name}({', '.join(parts)}) -> {self.output.value}"


def _parameter_description(annotation: Any) -> tuple[Any, str]:
    if get_origin(annotation) is typing.Annotated:
        base, *metadata = get_args(annotation)
        text = next((item for item in metadata if isinstance(item, str)), "")
        return base, text
    return annotation, ""


def _parameter_range(annotation: Any) -> Range | None:
    if get_origin(annotation) is typing.Annotated:
        return next((item for item in get_args(annotation)[1:] if isinstance(item, Range)), None)
    return None


def _model_protocol(tool_name: str, capability: Capability | None, hints: dict[str, Any]) -> type:
    """The protocol of a tool's ``model: ModelHandle[Protocol]`` parameter, checked against its capability."""
    hint = hints.get(MODEL_PARAMETER)
    if get_origin(hint) is not ModelHandle or len(get_args(hint)) != 1:
        raise TypeError(f"tool {tool_name}: the '{MODEL_PARAMETER}' parameter must be typed ModelHandle[Protocol]")
    if capability is None:
        raise TypeError(f"tool {tool_name}: a tool that takes a model must name its capability")
    protocol: type = get_args(hint)[0]
    expected = CAPABILITY_PROTOCOLS.get(capability)
    if expected is not None and expected not in protocol.__mro__:
        raise TypeError(f"tool {tool_name}: {capability} models are {expected.__name__}, not {protocol.__name__}")
    return protocol


class Tool:
    """A program tool: its spec plus the function that runs it."""

    def __init__(
        self,
        function: Callable[..., Any],
        spec: ToolSpec,
        wants_context: bool,
        wants_variables: bool,
        availability: Callable[[ToolContext], bool] | None = None,
        wants_parsed: bool = False,
        model_protocol: type | None = None,
    ) -> None:
        self.function = function
        self.spec = spec
        self._availability = availability
        self._wants_context = wants_context
        self._wants_variables = wants_variables
        self._wants_parsed = wants_parsed
        self._model_protocol = model_protocol

    @property
    def name(self) -> str:
        """The tool's program name (upper case)."""
        return self.spec.name

    def is_available(self, ctx: ToolContext) -> bool:
        """Whether this tool can run here (its capability has an installed backend that suits it)."""
        if self.spec.capability is not None and not ctx.models.has_installed(self.spec.capability):
            return False
        return self._availability is None or self._availability(ctx)

    def check_available(self, ctx: ToolContext) -> Backend | None:
        """The backend this tool's capability uses here (None for a tool without models).

        Raises :class:`ToolNotInstalledError` with the fixing command when no backend is installed.
        """
        if self.spec.capability is None:
            return None
        return ctx.models.backend_for(self.spec.capability)

    def prepare_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check and convert run-time values against the spec (kinds, choices, defaults)."""
        prepared: dict[str, Any] = {}
        for param in self.spec.params:
            if param.name not in arguments:
                if param.required:
                    raise ToolArgumentError(f"{self.name}: missing argument '{param.name}'")
                prepared[param.name] = param.default
                continue
            value = arguments[param.name]
            if value is None and param.optional_none:
                prepared[param.name] = None
                continue
            actual = kind_of_value(value)
            if not accepts(param.kind, actual):
                raise ToolArgumentError(
                    f"{self.name}: argument '{param.name}' expects {param.kind.value}, got {actual.value}"
                )
            value = coerce(value, param.kind)
            base, _ = strip_optional(param.annotation)
            if base is int and isinstance(value, float):
                if not value.is_integer():
                    raise ToolArgumentError(f"{self.name}: argument '{param.name}' expects a whole number, got {value}")
                value = int(value)
            if param.value_range is not None and isinstance(value, int | float) and not isinstance(value, bool):
                problem = param.value_range.problem(param.name, value)
                if problem:
                    raise ToolArgumentError(f"{self.name}: {problem}")
            if param.choices and str(value) not in param.choices:
                raise ToolArgumentError(
                    f"{self.name}: argument '{param.name}' must be one of {', '.join(param.choices)}; got {value!r}"
                )
            prepared[param.name] = value
        unknown = set(arguments) - {param.name for param in self.spec.params}
        if unknown:
            raise ToolArgumentError(f"{self.name}: unknown argument(s) {', '.join(sorted(unknown))}")
        return prepared

    def run(self, ctx: ToolContext, arguments: dict[str, Any], variables: dict[str, Any] | None = None) -> Any:
        """Check availability, validate arguments and call the tool function (the result cache is not used)."""
        backend = self.check_available(ctx)
        return self._call(ctx, self.prepare_arguments(arguments), variables, None, backend)

    def _call(
        self,
        ctx: ToolContext,
        prepared: dict[str, Any],
        variables: dict[str, Any] | None,
        parsed: Any,
        backend: Backend | None,
    ) -> Any:
        """Call the tool function on arguments already prepared by :meth:`prepare_arguments`.

        A tool taking a ``model`` gets a :class:`ModelHandle` on ``backend`` (the call's one backend lookup).
        """
        call_arguments = dict(prepared)
        if self._wants_context:
            call_arguments[CONTEXT_PARAMETER] = ctx
        if self._wants_variables:
            call_arguments[VARIABLES_PARAMETER] = dict(variables or {})
        if self._wants_parsed:
            call_arguments[PARSED_PARAMETER] = parsed
        if self._model_protocol is not None:
            assert backend is not None, "a tool with a model has a capability, so check_available found a backend"
            call_arguments[MODEL_PARAMETER] = ModelHandle(ctx.models, backend, self._model_protocol)
        return self.function(**call_arguments)

    def run_cached(
        self,
        ctx: ToolContext,
        arguments: dict[str, Any],
        variables: dict[str, Any] | None = None,
        parsed: Any = None,
    ) -> tuple[Any, bool]:
        """Like :meth:`run`, but answer from ``ctx.results`` when the same call was made before.

        ``parsed`` is the step's expression as the validator parsed it (EVAL). Returns (value, whether it
        came from the cache). Only tools marked ``cacheable`` are cached;
        the key holds the installed backends' names, versions and weight fingerprints
        (:meth:`ModelManager.result_version`), so new weights never reuse old results.
        """
        backend = self.check_available(ctx)  # the one backend lookup of this call
        prepared = self.prepare_arguments(arguments)  # prepared once: for the cache key and for the call
        if not self.spec.cacheable or ctx.results is None or backend is None:
            return self._call(ctx, prepared, variables, parsed, backend), False
        version = ctx.models.result_version(backend.capability, default=backend)
        key = result_key(self.name, backend.name, version, prepared)
        found, value = ctx.results.lookup(key)
        if found:
            return value, True
        value = self._call(ctx, prepared, variables, parsed, backend)
        ctx.results.put(key, value)
        return value, False

    def __call__(self, ctx: ToolContext, **arguments: Any) -> Any:
        return self.run(ctx, arguments)

    def __repr__(self) -> str:
        return f"Tool({self.spec.signature()})"


def tool(
    *,
    name: str,
    example: str,
    category: str,
    limitations: str = "",
    capability: Capability | None = None,
    cacheable: bool = False,
    expression_param: str | None = None,
    availability: Callable[[ToolContext], bool] | None = None,
    offered_to_planner: bool = True,
    listed_in_prompt: bool = True,
    evidence_limit: int = DEFAULT_EVIDENCE_LIMIT,
) -> Callable[[Callable[..., Any]], Tool]:
    """Turn a typed function into a :class:`Tool`; the docstring's first line is its summary.

    ``availability`` refines "its capability is installed" when a tool needs more than that
    (e.g. point prompts need a SAM-family segmenter, not any segmenter). A ``model:
    ModelHandle[Protocol]`` parameter receives the capability's model, typed by its protocol
    (:data:`~visorch.tools.models.protocols.CAPABILITY_PROTOCOLS`, or a sub-protocol of it).
    """

    def decorate(function: Callable[..., Any]) -> Tool:
        hints = typing.get_type_hints(function, include_extras=True)
        signature = inspect.signature(function)
        params = []
        for parameter in signature.parameters.values():
            if parameter.name in _SPECIAL_PARAMETERS:
                continue
            if parameter.name not in hints:
                raise TypeError(f"tool {name}: parameter '{parameter.name}' needs a type hint")
            annotation, description = _parameter_description(hints[parameter.name])
            value_range = _parameter_range(hints[parameter.name])
            _, optional_none = strip_optional(annotation)
            required = parameter.default is inspect.Parameter.empty
            params.append(
                ParamSpec(
                    name=parameter.name,
                    kind=kind_of(annotation),
                    annotation=annotation,
                    description=description,
                    required=required,
                    default=None if required else parameter.default,
                    choices=literal_choices(annotation),
                    optional_none=optional_none,
                    value_range=value_range,
                )
            )
            if value_range is not None and kind_of(annotation) != ValueKind.NUMBER:
                raise TypeError(f"tool {name}: parameter '{parameter.name}' has a Range but is not a number")
        if "return" not in hints:
            raise TypeError(f"tool {name}: the function needs a return type hint")
        doc = inspect.cleandoc(function.__doc__ or "")
        if not doc:
            raise TypeError(f"tool {name}: the function needs a docstring")
        wants_model = MODEL_PARAMETER in signature.parameters
        model_protocol = _model_protocol(name, capability, hints) if wants_model else None
        spec = ToolSpec(
            name=name,
            summary=doc.splitlines()[0],
            description=doc,
            params=tuple(params),
            output=kind_of(hints["return"]),
            example=example,
            limitations=limitations,
            category=category,
            capability=capability,
            cacheable=cacheable,
            expression_param=expression_param,
            offered_to_planner=offered_to_planner,
            listed_in_prompt=listed_in_prompt,
            evidence_limit=evidence_limit,
        )
        return Tool(
            function,
            spec,
            wants_context=CONTEXT_PARAMETER in signature.parameters,
            wants_variables=VARIABLES_PARAMETER in signature.parameters,
            wants_parsed=PARSED_PARAMETER in signature.parameters,
            availability=availability,
            model_protocol=model_protocol,
        )

    return decorate


@dataclass
class ToolRegistry:
    """The set of tools a program may call, looked up by name."""

    tools: dict[str, Tool] = field(default_factory=dict)

    @classmethod
    def of(cls, tools: Iterable[Tool]) -> ToolRegistry:
        """A registry holding ``tools`` (names must be unique)."""
        registry = cls()
        for item in tools:
            registry.add(item)
        return registry

    def add(self, item: Tool) -> None:
        """Register one tool."""
        if item.name in self.tools:
            raise ValueError(f"tool {item.name} is registered twice")
        self.tools[item.name] = item

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, or None."""
        return self.tools.get(name)

    def __getitem__(self, name: str) -> Tool:
        return self.tools[name]

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self.tools.values())

    def __len__(self) -> int:
        return len(self.tools)

    def names(self) -> list[str]:
        """Tool names in registration order."""
        return list(self.tools)

    def closest(self, name: str) -> str | None:
        """The registered name most like ``name`` (for 'did you mean' hints)."""
        matches = self.closest_names(name, 1)
        return matches[0] if matches else None

    def closest_names(self, name: str, n: int = 3) -> list[str]:
        """Up to ``n`` registered names like ``name``, the likeliest first."""
        upper = {candidate.upper(): candidate for candidate in self.tools}
        return [upper[match] for match in difflib.get_close_matches(name.upper(), list(upper), n=n, cutoff=0.5)]

    def available(self, ctx: ToolContext) -> ToolRegistry:
        """Only the tools whose backends are installed here (what the planner is offered)."""
        return ToolRegistry.of(item for item in self if item.is_available(ctx))

    def offered_to_planner(self) -> ToolRegistry:
        """Only the tools whose spec offers them to the planner (not LOAD)."""
        return ToolRegistry.of(item for item in self if item.spec.offered_to_planner)

    def without(self, *names: str) -> ToolRegistry:
        """A copy without the named tools."""
        return ToolRegistry.of(item for item in self if item.name not in names)

    def require(self, name: str) -> Tool:
        """The tool called ``name``, or an :class:`UnknownToolError` naming the closest ones."""
        found = self.get(name)
        if found is None:
            raise UnknownToolError(name, self.closest_names(name))
        return found
