"""EVAL's expression language: arithmetic, comparison and logic over program variables.

Not Python: a small parser and evaluator with no attribute access, no imports and a fixed set
of functions. Grammar, loosest binding first::

    expr     := or_expr ["if" or_expr "else" expr]
    or_expr  := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | compare
    compare  := sum [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") sum]
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/" | "//" | "%") unary)*
    unary    := "-" unary | atom
    atom     := NUMBER | STRING | TRUE | FALSE | NAME | "{" NAME "}"
              | FUNCTION "(" [expr ("," expr)*] ")" | "(" expr ")"

Variables are written bare (``COUNT0 > 2``) or in braces (``{COUNT0} > 2``, as in VisProg).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from visorch.programs.errors import ExpressionError, SourcePosition
from visorch.programs.lexer import Token, TokenKind, tokenize
from visorch.tools.detections import Detections
from visorch.tools.types import VALUE_TYPES, ValueKind

MAX_DEPTH = 32
MAX_TEXT = 100_000
MAX_SOURCE_LENGTH = 10_000
"""Characters an expression may have; longer ones are refused before they are scanned."""
MAX_TOKENS = 5_000
"""Numbers, names, strings and operators an expression may have (``1+1`` is three)."""
MAX_INTEGER_BITS = 1_024
"""Whole numbers beyond about 10**308 are refused, like floats that overflow."""


def _length(value: Any) -> int:
    if isinstance(value, str | list | Detections):
        return len(value)
    raise ExpressionError(f"len() needs text, a list or detections, not {type(value).__name__}")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "len": _length,
    "lower": lambda text: str(text).lower(),
    "upper": lambda text: str(text).upper(),
    "strip": lambda text: str(text).strip(" \t\n.,!?;:'\""),
    "str": lambda value: value if isinstance(value, str) else _display(value),
    "int": int,
    "float": float,
}
"""The only functions an expression may call."""

_KEYWORDS = {"and", "or", "not", "if", "else", "in", "True", "False", "true", "false"}
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
}


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Node:
    """An expression tree node: ``kind`` plus its operands."""

    kind: str
    value: Any
    children: tuple[Node, ...]
    column: int


@dataclass(frozen=True)
class Expression:
    """A parsed expression and the variable names it reads."""

    source: str
    tree: Node
    variables: tuple[str, ...]

    def evaluate(self, variables: dict[str, Any]) -> Any:
        """The expression's value given the variables it reads."""
        return _evaluate(self.tree, {name: _plain(value) for name, value in variables.items()})


def _plain(value: Any) -> Any:
    """Program values as expression values: those that stand in for text (transcripts, OCR) as their text."""
    if isinstance(value, VALUE_TYPES) and ValueKind.TEXT in value.widens_to:
        return value.as_kind(ValueKind.TEXT)
    return value


class _ExpressionParser:
    def __init__(self, source: str) -> None:
        self.source = source
        if len(source) > MAX_SOURCE_LENGTH:
            raise ExpressionError(
                f"the expression is {len(source):,} characters long; EVAL takes at most {MAX_SOURCE_LENGTH:,} "
                "(split the work over several EVAL steps)"
            )
        self.tokens = [token for token in tokenize(source, self._lex_error) if token.kind != TokenKind.NEWLINE]
        if len(self.tokens) - 1 > MAX_TOKENS:
            raise ExpressionError(
                f"the expression has {len(self.tokens) - 1:,} parts (numbers, names, operators); EVAL takes at "
                f"most {MAX_TOKENS:,} (split the work over several EVAL steps)"
            )
        self.index = 0
        self.depth = 0
        self.variables: list[str] = []

    @staticmethod
    def _lex_error(message: str, position: SourcePosition) -> ExpressionError:
        return ExpressionError(message, position.column)

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != TokenKind.END:
            self.index += 1
        return token

    def at(self, text: str) -> bool:
        token = self.peek()
        return token.kind in (TokenKind.OPERATOR, TokenKind.NAME) and token.text == text

    def expect(self, text: str) -> Token:
        token = self.peek()
        if not self.at(text):
            raise ExpressionError(f"expected '{text}', found {token.describe()}", token.position.column)
        return self.advance()

    def parse(self) -> Expression:
        if self.peek().kind == TokenKind.END:
            raise ExpressionError("the expression is empty", 1)
        tree = self.expression()
        token = self.peek()
        if token.kind != TokenKind.END:
            raise ExpressionError(f"unexpected {token.describe()} after the expression", token.position.column)
        return Expression(self.source, tree, tuple(dict.fromkeys(self.variables)))

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} deep", self.peek().position.column)

    def expression(self) -> Node:
        self.nested()
        column = self.peek().position.column
        value = self.or_expression()
        if self.at("if"):
            self.advance()
            condition = self.or_expression()
            self.expect("else")
            otherwise = self.expression()
            value = Node("if", None, (condition, value, otherwise), column)
        self.depth -= 1
        return value

    # Chains (a or b or c, 1 + 2 - 3) are one node with n operands, not a left-deep tree, so
    # evaluating a long flat chain loops instead of recursing once per operand.
    def or_expression(self) -> Node:
        first = self.and_expression()
        operands, column = [first], first.column
        while self.at("or"):
            self.advance()
            operands.append(self.and_expression())
        return first if len(operands) == 1 else Node("or", None, tuple(operands), column)

    def and_expression(self) -> Node:
        first = self.not_expression()
        operands, column = [first], first.column
        while self.at("and"):
            self.advance()
            operands.append(self.not_expression())
        return first if len(operands) == 1 else Node("and", None, tuple(operands), column)

    def not_expression(self) -> Node:
        if self.at("not"):
            column = self.advance().position.column
            self.nested()
            operand = self.not_expression()
            self.depth -= 1
            return Node("not", None, (operand,), column)
        return self.comparison()

    def comparison(self) -> Node:
        node = self.sum()
        token = self.peek()
        if token.kind == TokenKind.OPERATOR and token.text in _COMPARISONS:
            self.advance()
            return Node("compare", token.text, (node, self.sum()), token.position.column)
        if self.at("in"):
            self.advance()
            return Node("in", None, (node, self.sum()), token.position.column)
        if self.at("not") and self.index + 1 < len(self.tokens) and self.tokens[self.index + 1].text == "in":
            self.advance()
            self.advance()
            return Node(
                "not", None, (Node("in", None, (node, self.sum()), token.position.column),), token.position.column
            )
        return node

    def arithmetic_chain(self, operators: tuple[str, ...], operand: Callable[[], Node]) -> Node:
        first = operand()
        children, applied, columns = [first], [], []
        while self.peek().kind == TokenKind.OPERATOR and self.peek().text in operators:
            token = self.advance()
            applied.append(token.text)
            columns.append(token.position.column)
            children.append(operand())
        if not applied:
            return first
        return Node("arithmetic", (tuple(applied), tuple(columns)), tuple(children), columns[0])

    def sum(self) -> Node:
        return self.arithmetic_chain(("+", "-"), self.product)

    def product(self) -> Node:
        return self.arithmetic_chain(("*", "/", "//", "%"), self.unary)

    def unary(self) -> Node:
        if self.at("-"):
            column = self.advance().position.column
            self.nested()
            operand = self.unary()
            self.depth -= 1
            return Node("negate", None, (operand,), column)
        return self.atom()

    def atom(self) -> Node:
        token = self.peek()
        column = token.position.column
        if token.kind in (TokenKind.NUMBER, TokenKind.STRING):
            self.advance()
            return Node("literal", token.value, (), column)
        if token.kind == TokenKind.NAME:
            self.advance()
            if token.text in ("True", "true"):
                return Node("literal", True, (), column)
            if token.text in ("False", "false"):
                return Node("literal", False, (), column)
            if token.text in _KEYWORDS:
                raise ExpressionError(f"'{token.text}' cannot start a value", column)
            if self.at("("):
                if token.text not in FUNCTIONS:
                    allowed = ", ".join(sorted(FUNCTIONS))
                    raise ExpressionError(f"unknown function {token.text}(); allowed: {allowed}", column)
                self.advance()
                arguments: list[Node] = []
                while not self.at(")"):
                    arguments.append(self.expression())
                    if not self.at(")"):
                        self.expect(",")
                self.advance()
                return Node("call", token.text, tuple(arguments), column)
            self.variables.append(token.text)
            return Node("variable", token.text, (), column)
        if self.at("{"):
            self.advance()
            name = self.peek()
            if name.kind != TokenKind.NAME or name.text in _KEYWORDS:
                raise ExpressionError(
                    f"expected a variable name inside {{ }}, found {name.describe()}", name.position.column
                )
            self.advance()
            self.expect("}")
            self.variables.append(name.text)
            return Node("variable", name.text, (), column)
        if self.at("("):
            self.advance()
            node = self.expression()
            self.expect(")")
            return node
        raise ExpressionError(f"expected a value, found {token.describe()}", column)


def parse_expression(source: str) -> Expression:
    """Parse an EVAL expression; raises :class:`ExpressionError` with the column."""
    return _ExpressionParser(source).parse()


def _number(value: Any, where: int) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExpressionError(f"expected a number, got {_describe(value)}", where)
    return value


def _describe(value: Any) -> str:
    if isinstance(value, Detections):
        return "detections (use COUNT to get a number)"
    return f"{type(value).__name__} {value!r}"[:80]


def _truth(value: Any, where: int) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "no", "true", "false"):
        return value.strip().lower() in ("yes", "true")
    if isinstance(value, int | float):
        return value != 0
    raise ExpressionError(f"expected yes/no, got {_describe(value)}", where)


def _same(left: Any, right: Any) -> tuple[Any, Any]:
    """Compare text case-insensitively and 'yes'/'no' with booleans."""
    if isinstance(left, str) and isinstance(right, str):
        return left.strip().lower(), right.strip().lower()
    if isinstance(left, bool) and isinstance(right, str):
        return left, _truth(right, 0)
    if isinstance(right, bool) and isinstance(left, str):
        return _truth(left, 0), right
    return left, right


def _evaluate(node: Node, variables: dict[str, Any]) -> Any:
    kind, where = node.kind, node.column
    if kind == "literal":
        return node.value
    if kind == "variable":
        if node.value not in variables:
            raise ExpressionError(f"variable {node.value} has no value", where)
        value = variables[node.value]
        if isinstance(value, Detections):
            raise ExpressionError(f"{node.value} holds {_describe(value)}", where)
        return value
    if kind == "if":
        condition, then, otherwise = node.children
        return _evaluate(then if _truth(_evaluate(condition, variables), where) else otherwise, variables)
    if kind == "or":
        return any(_truth(_evaluate(child, variables), where) for child in node.children)
    if kind == "and":
        return all(_truth(_evaluate(child, variables), where) for child in node.children)
    if kind == "arithmetic":
        operators, columns = node.value
        value = _evaluate(node.children[0], variables)
        for symbol, column, child in zip(operators, columns, node.children[1:], strict=True):
            value = _arithmetic(symbol, value, _evaluate(child, variables), column)
        return value
    if kind == "not":
        return not _truth(_evaluate(node.children[0], variables), where)
    if kind == "negate":
        return -_number(_evaluate(node.children[0], variables), where)
    if kind == "call":
        arguments = [_evaluate(child, variables) for child in node.children]
        try:
            return _bounded(FUNCTIONS[node.value](*arguments), where)
        except ExpressionError:
            raise
        except (TypeError, ValueError, OverflowError) as error:
            raise ExpressionError(f"{node.value}() failed: {error}", where) from error
    if kind not in ("compare", "in"):
        raise ExpressionError(f"unknown expression node {kind}", where)
    # Operands are evaluated once, here: evaluating them before every branch made nested calls
    # (abs(abs(...))) take time exponential in their depth.
    left, right = _evaluate(node.children[0], variables), _evaluate(node.children[1], variables)
    if kind == "compare":
        left, right = _same(left, right)
        try:
            return bool(_COMPARISONS[node.value](left, right))
        except TypeError as error:
            raise ExpressionError(f"cannot compare {_describe(left)} with {_describe(right)}", where) from error
    if not isinstance(left, str) or not isinstance(right, str | list):
        raise ExpressionError("'in' needs text on the left and text or a list on the right", where)
    if isinstance(right, str):
        return left.strip().lower() in right.lower()
    return left.strip().lower() in [str(item).strip().lower() for item in right]


def _bounded(value: Any, where: int) -> Any:
    """``value``, unless it is a whole number too large to show or compute with further."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INTEGER_BITS:
        raise ExpressionError(f"number too large (more than {MAX_INTEGER_BITS} bits)", where)
    return value


def _arithmetic(symbol: str, left: Any, right: Any, where: int) -> Any:
    if symbol == "+" and isinstance(left, str) and isinstance(right, str):
        if len(left) + len(right) > MAX_TEXT:
            raise ExpressionError("text grows too long", where)
        return left + right
    if symbol == "+" and (isinstance(left, str) or isinstance(right, str)):
        text = _display(left) + _display(right)
        if len(text) > MAX_TEXT:
            raise ExpressionError("text grows too long", where)
        return text
    a, b = _number(left, where), _number(right, where)
    if symbol in ("/", "//", "%") and b == 0:
        raise ExpressionError("division by zero", where)
    try:
        result = _ARITHMETIC[symbol](a, b)
    except OverflowError as error:
        raise ExpressionError(f"number too large: {error}", where) from error
    if isinstance(result, float) and result.is_integer() and symbol != "/":
        result = int(result)
    return _bounded(result, where)
