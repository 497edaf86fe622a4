"""The slice of PingOne's SCIM filter language the simulator understands.

Supported: `attr eq "v"`, `attr sw "v"`, `attr eq true|false`, `memberOfGroups[id eq "G"]`, joined
with `and` / `or` and parentheses (`and` binds tighter). Attribute paths are dotted
(`population.id`, `name.family`) and compared case-insensitively for the operator and attribute
name, as SCIM says. Anything else raises `FilterError`, which the simulator answers with a 400
`INVALID_FILTER`, as PingOne does for an unsupported filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]

_TOKEN = re.compile(r'\s*(?:(\()|(\))|(\[)|(\])|"((?:[^"\\]|\\.)*)"|([A-Za-z_][\w.]*))')


class FilterError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "(", ")", "[", "]", "str", "word"
    text: str


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FilterError(f"unexpected character at {pos}: {text[pos : pos + 10]!r}")
        lp, rp, lb, rb, string, word = match.groups()
        if string is not None:
            tokens.append(Token("str", string.replace('\\"', '"')))
        elif word is not None:
            tokens.append(Token("word", word))
        else:
            tokens.append(Token(next(t for t in (lp, rp, lb, rb) if t), ""))
        pos = match.end()
    return tokens


def lookup(record: Record, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        found = next((v for k, v in value.items() if k.casefold() == part.casefold()), None)
        value = found
    return value


class _Parser:
    def __init__(self, tokens: list[Token], groups_of: Callable[[Record], set[str]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.groups_of = groups_of

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str | None = None) -> Token:
        token = self.peek()
        if token is None or (kind is not None and token.kind != kind):
            raise FilterError(f"expected {kind or 'a token'} at token {self.pos}")
        self.pos += 1
        return token

    def word_is(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text.casefold() == word

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.peek() is not None:
            raise FilterError(f"unexpected token at {self.pos}")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.word_is("or"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.term()]
        while self.word_is("and"):
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def term(self) -> Predicate:
        token = self.peek()
        if token is not None and token.kind == "(":
            self.take()
            inner = self.disjunction()
            self.take(")")
            return inner
        attribute = self.take("word").text
        next_token = self.peek()
        if next_token is not None and next_token.kind == "[":
            if attribute.casefold() != "memberofgroups":
                raise FilterError(f"unsupported complex attribute {attribute!r}")
            self.take("[")
            if self.take("word").text.casefold() != "id" or not self.word_is("eq"):
                raise FilterError('memberOfGroups supports only [id eq "..."]')
            self.take()
            group_id = self.take("str").text
            self.take("]")
            return lambda r: group_id in self.groups_of(r)
        operator = self.take("word").text.casefold()
        if operator not in ("eq", "sw"):
            raise FilterError(f"unsupported operator {operator!r}")
        operand = self.take()
        if operand.kind == "str":
            expected: Any = operand.text
        elif operand.kind == "word" and operand.text in ("true", "false"):
            expected = operand.text == "true"
        else:
            raise FilterError("expected a quoted string or true/false")
        if operator == "sw":
            if not isinstance(expected, str):
                raise FilterError("sw needs a string")
            prefix = expected.casefold()
            return lambda r: str(lookup(r, attribute) or "").casefold().startswith(prefix)
        if isinstance(expected, str):
            folded = expected.casefold()
            return lambda r: isinstance(v := lookup(r, attribute), str) and v.casefold() == folded
        return lambda r: lookup(r, attribute) is expected


def compile_filter(text: str, groups_of: Callable[[Record], set[str]] = lambda _: set()) -> Predicate:
    """A predicate over user (or group) records; `groups_of` gives a user's group ids."""
    return _Parser(tokenize(text), groups_of).parse()


def member_filter_group(text: str) -> str | None:
    """The group id when the filter is exactly `memberOfGroups[id eq "G"]` (the fast path)."""
    tokens = tokenize(text)
    shape = [t.kind for t in tokens]
    if shape != ["word", "[", "word", "word", "str", "]"]:
        return None
    if tokens[0].text.casefold() != "memberofgroups" or tokens[3].text.casefold() != "eq":
        return None
    return tokens[4].text
