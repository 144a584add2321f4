"""A recursive-descent parser for visual programs.

Grammar (one step per line; blank lines and ``#`` comments are ignored; newlines inside
parentheses or brackets are allowed)::

    program   := (step? NEWLINE)* step?
    step      := NAME "=" NAME "(" [argument ("," argument)* [","]] ")"
    argument  := NAME "=" value
    value     := STRING | ["-"] NUMBER | TRUE | FALSE | NONE | NAME | "[" [value ("," value)* [","]] "]"

Every error is a :class:`ProgramSyntaxError` with the line and column it was found at.
"""

from __future__ import annotations

from visorch.programs.ast import Argument, ListValue, Literal, Program, Reference, Step, Value
from visorch.programs.errors import ProgramSyntaxError, SourcePosition
from visorch.programs.lexer import Token, TokenKind, tokenize

MAX_NESTING = 32
BYTE_ORDER_MARK = "\ufeff"
"""Editors on Windows start UTF-8 files with it; it is not part of the program."""
KEYWORD_VALUES = {"True": True, "true": True, "False": False, "false": False, "None": None, "none": None}


class _Parser:
    def __init__(self, source: str) -> None:
        source = source.removeprefix(BYTE_ORDER_MARK)
        self.source = source
        self.lines = source.split("\n")  # the lexer's lines: only '\n' ends one
        self.tokens = tokenize(source, self.error)
        self.index = 0
        self.depth = 0  # brackets open: newlines inside them are not line ends
        self.last: Token | None = None

    def error(self, message: str, position: SourcePosition) -> ProgramSyntaxError:
        return ProgramSyntaxError(message, position, self.source)

    def peek(self) -> Token:
        token = self.tokens[self.index]
        while self.depth > 0 and token.kind == TokenKind.NEWLINE:
            self.index += 1
            token = self.tokens[self.index]
        return token

    def advance(self) -> Token:
        token = self.peek()
        if token.kind != TokenKind.END:
            self.index += 1
        self.last = token
        return token

    def unclosed(self, tool: Token) -> ProgramSyntaxError | None:
        """An error at the end of the line when a call's ')' is missing before a new line starts."""
        token = self.peek()
        if self.last is None or token.position.line == self.last.position.line:
            return None
        line = self.last.position.line
        text = self.lines[line - 1]
        end = len(text.split("#", 1)[0].rstrip()) + 1
        return self.error(
            f"expected ')' to close the call to {tool.text} at the end of line {line}", SourcePosition(line, end)
        )

    def is_operator(self, text: str) -> bool:
        token = self.peek()
        return token.kind == TokenKind.OPERATOR and token.text == text

    def expect_operator(self, text: str, context: str) -> Token:
        token = self.peek()
        if token.kind != TokenKind.OPERATOR or token.text != text:
            raise self.error(f"expected '{text}' {context}, found {token.describe()}", token.position)
        return self.advance()

    def expect_name(self, context: str) -> Token:
        token = self.peek()
        if token.kind != TokenKind.NAME:
            raise self.error(f"expected {context}, found {token.describe()}", token.position)
        return self.advance()

    def parse(self) -> Program:
        steps: list[Step] = []
        while self.peek().kind != TokenKind.END:
            if self.peek().kind == TokenKind.NEWLINE:
                self.advance()
                continue
            steps.append(self.step())
            token = self.peek()
            if token.kind not in (TokenKind.NEWLINE, TokenKind.END):
                raise self.error(
                    f"expected the end of the line after the step, found {token.describe()}", token.position
                )
        return Program(steps=tuple(steps), source=self.source)

    def step(self) -> Step:
        target = self.expect_name("a variable name to assign (like BOX0=...)")
        if target.text in KEYWORD_VALUES:
            raise self.error(f"{target.text} is a value and cannot be assigned", target.position)
        self.expect_operator("=", f"after the variable name {target.text}")
        tool = self.expect_name(f"a tool name after '{target.text}='")
        self.expect_operator("(", f"after the tool name {tool.text}")
        self.depth += 1
        arguments: list[Argument] = []
        seen: set[str] = set()
        while not self.is_operator(")"):
            name = self.expect_name("an argument name (like image=IMAGE)")
            if name.text in seen:
                raise self.error(f"argument '{name.text}' is given twice", name.position)
            seen.add(name.text)
            self.expect_operator("=", f"after the argument name {name.text}")
            arguments.append(Argument(name.text, self.value(), name.position))
            if not self.is_operator(")") and not self.is_operator(","):
                raise self.unclosed(tool) or self.error(
                    f"expected ',' between arguments, found {self.peek().describe()}", self.peek().position
                )
            if self.is_operator(","):
                self.advance()
        self.depth -= 1
        self.advance()
        line_text = self.lines[target.position.line - 1].strip()
        return Step(
            target=target.text,
            tool=tool.text,
            arguments=tuple(arguments),
            position=target.position,
            tool_position=tool.position,
            text=line_text,
        )

    def value(self) -> Value:
        token = self.peek()
        if token.kind == TokenKind.STRING:
            self.advance()
            return Literal(token.value, token.position)
        if token.kind == TokenKind.NUMBER:
            self.advance()
            return Literal(token.value, token.position)
        if token.kind == TokenKind.OPERATOR and token.text == "-":
            self.advance()
            number = self.peek()
            if number.kind != TokenKind.NUMBER:
                raise self.error(f"expected a number after '-', found {number.describe()}", number.position)
            self.advance()
            value = number.value
            assert isinstance(value, int | float)
            return Literal(-value, token.position)
        if token.kind == TokenKind.NAME:
            self.advance()
            if token.text in KEYWORD_VALUES:
                return Literal(KEYWORD_VALUES[token.text], token.position)
            if self.is_operator("("):
                raise self.error(
                    f"a tool call ({token.text}(...)) cannot be nested inside another; give it its own line",
                    token.position,
                )
            return Reference(token.text, token.position)
        if token.kind == TokenKind.OPERATOR and token.text == "[":
            if self.depth > MAX_NESTING:
                raise self.error(f"lists are nested more than {MAX_NESTING} deep", token.position)
            self.advance()
            self.depth += 1
            items: list[Value] = []
            while not self.is_operator("]"):
                items.append(self.value())
                if not self.is_operator("]"):
                    self.expect_operator(",", "between list items")
            self.depth -= 1
            self.advance()
            return ListValue(tuple(items), token.position)
        raise self.error(
            f"expected a value (a string, number, True/False, a variable or a list), found {token.describe()}",
            token.position,
        )


def parse_program(source: str) -> Program:
    """Parse program text into a :class:`Program`; raises :class:`ProgramSyntaxError`."""
    return _Parser(source).parse()
