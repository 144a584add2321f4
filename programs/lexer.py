"""Tokens of the program language and of EVAL expressions (one scanner for both)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from visorch.programs.errors import SourcePosition


class TokenKind(StrEnum):
    """What a token is."""

    NAME = "name"
    STRING = "string"
    NUMBER = "number"
    OPERATOR = "operator"
    NEWLINE = "end of line"
    END = "end of program"


@dataclass(frozen=True)
class Token:
    """One token with the value it stands for and where it starts."""

    kind: TokenKind
    text: str
    value: object
    position: SourcePosition

    def describe(self) -> str:
        """How an error message names this token."""
        if self.kind in (TokenKind.NEWLINE, TokenKind.END):
            return self.kind.value
        return f"{self.kind.value} {self.text!r}"


# Longest first, so '<=' wins over '<'.
OPERATORS = ("//", "==", "!=", "<=", ">=", "=", "(", ")", "[", "]", "{", "}", ",", "+", "-", "*", "/", "%", "<", ">")
MAX_NUMBER_LENGTH = 100
"""Digits a number literal may have (Python refuses to convert much longer whole numbers to text)."""
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


def tokenize(source: str, error: Callable[[str, SourcePosition], Exception]) -> list[Token]:
    """Split ``source`` into tokens; ``#`` starts a comment; raises ``error(message, position)``."""
    tokens: list[Token] = []
    line, column, index = 1, 1, 0
    length = len(source)

    def position() -> SourcePosition:
        return SourcePosition(line, column)

    while index < length:
        char = source[index]
        if char == "\n":
            tokens.append(Token(TokenKind.NEWLINE, "\n", None, position()))
            index, line, column = index + 1, line + 1, 1
        elif char in " \t\r\f\v":
            index, column = index + 1, column + 1
        elif char == "#":
            while index < length and source[index] != "\n":
                index, column = index + 1, column + 1
        elif char.isascii() and (char.isalpha() or char == "_"):
            start = index
            while index < length and source[index].isascii() and (source[index].isalnum() or source[index] == "_"):
                index += 1
            text = source[start:index]
            tokens.append(Token(TokenKind.NAME, text, text, position()))
            column += index - start
        elif char.isascii() and (
            char.isdigit() or (char == "." and index + 1 < length and source[index + 1].isdigit())
        ):
            start, here = index, position()
            while index < length and source[index].isascii() and source[index].isdigit():
                index += 1
            is_float = False
            if index < length and source[index] == ".":
                is_float = True
                index += 1
                while index < length and source[index].isascii() and source[index].isdigit():
                    index += 1
            if index < length and source[index] in "eE":
                exponent = index + 1
                if exponent < length and source[exponent] in "+-":
                    exponent += 1
                if exponent < length and source[exponent].isascii() and source[exponent].isdigit():
                    is_float = True
                    index = exponent
                    while index < length and source[index].isascii() and source[index].isdigit():
                        index += 1
            text = source[start:index]
            if index < length and source[index].isascii() and (source[index].isalpha() or source[index] == "_"):
                raise error(f"a number cannot run into a name: {source[start : index + 1]!r}", here)
            if len(text) > MAX_NUMBER_LENGTH:
                raise error(f"a number of {len(text):,} characters is too long (at most {MAX_NUMBER_LENGTH})", here)
            value: object = float(text) if is_float else int(text)
            tokens.append(Token(TokenKind.NUMBER, text, value, here))
            column += index - start
        elif char in "'\"":
            here, quote = position(), char
            index, column = index + 1, column + 1
            pieces: list[str] = []
            while True:
                if index >= length or source[index] == "\n":
                    raise error(f"string starting here is not closed with {quote}", here)
                current = source[index]
                if current == quote:
                    index, column = index + 1, column + 1
                    break
                if current == "\\":
                    if index + 1 >= length or source[index + 1] not in _ESCAPES:
                        raise error("unknown escape in string (use \\n, \\t, \\\\, \\' or \\\")", position())
                    pieces.append(_ESCAPES[source[index + 1]])
                    index, column = index + 2, column + 2
                    continue
                pieces.append(current)
                index, column = index + 1, column + 1
            text = "".join(pieces)
            tokens.append(Token(TokenKind.STRING, text, text, here))
        else:
            operator = next((op for op in OPERATORS if source.startswith(op, index)), None)
            if operator is None:
                raise error(f"unexpected character {char!r}", position())
            tokens.append(Token(TokenKind.OPERATOR, operator, operator, position()))
            index, column = index + len(operator), column + len(operator)
    tokens.append(Token(TokenKind.END, "", None, position()))
    return tokens
