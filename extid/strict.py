"""The strict stdlib parse of a state file: what a JSON parser lets through (duplicate keys,
NaN/Infinity, huge numbers, deep nesting, lone surrogates) is refused, with its place.

The definition every faster reading (extid.document's orjson path) is held to, and the one
that names the problem when a file is not sound.
"""

from __future__ import annotations

import json
import re

from .errors import ParseError, jpath

TYPE_CHECKING = False  # not typing's: see errors.py
if TYPE_CHECKING:
    from typing import Any

#: Our documents are 4 levels deep; anything far deeper is hostile.
MAX_DEPTH = 64
#: Integers with more digits than this are refused (2**53 has 16).
MAX_INT_DIGITS = 20


def load(data: bytes, name: str) -> Any:
    """The object in `data` (the contents of file `name`); raises ParseError with the place."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ParseError(name, f"line {line}", f"invalid UTF-8 at byte {e.start}") from None
    try:
        obj = json.loads(
            text,
            object_pairs_hook=_unique_object,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except json.JSONDecodeError as e:
        raise ParseError(name, f"line {e.lineno} column {e.colno}", _said(e.msg)) from None
    except _Refused as e:
        raise ParseError(name, e.locate(text), str(e), corrupt=e.corrupt) from None
    except RecursionError:
        message = f"nesting deeper than {MAX_DEPTH} levels"
        raise ParseError(name, "", message, corrupt=False) from None
    # A lone surrogate can only come from a backslash-u escape: raw ones are invalid UTF-8.
    # Without one only the nesting needs checking, which the quick walk does; the full walk
    # builds the JSON path of the problem and raises.
    if "\\ud" in text or "\\uD" in text or not nesting_within_limit(obj):
        check_tree(obj, "$", 0, name)
    return obj


def nesting_within_limit(obj: Any) -> bool:
    """Whether `check_tree` would pass a document without lone surrogates: one level at a
    time over its containers only, no paths built (~0.3 against ~5.5 ms at 1k entries)."""
    level = [obj] if isinstance(obj, (dict, list)) else []
    for _ in range(MAX_DEPTH):
        level = [
            child
            for container in level
            for child in (container.values() if type(container) is dict else container)
            if type(child) is dict or type(child) is list
        ]
        if not level:
            return True
    return not any(level)  # a container at MAX_DEPTH must be empty: its children are past it


class _Refused(ValueError):
    """Valid JSON this parser refuses (the user's to fix), but for NaN/Infinity: not JSON."""

    def __init__(
        self, message: str, where: str = "", token: str = "", duplicate: str | None = None
    ) -> None:
        super().__init__(message)
        self.where, self.token, self.duplicate = where, token, duplicate
        self.corrupt = False

    def locate(self, text: str) -> str:
        if self.where:
            return self.where
        if self.duplicate is not None:
            return _duplicate_at(text, self.duplicate)
        return _locate(text, self.token)


# A JSON string (and the colon that makes it a key), or a bracket: enough to walk the objects.
_KEY_OR_BRACKET = r'"(?:[^"\\]|\\.)*"\s*:?|[{}\[\]]'


def _duplicate_at(text: str, key: str) -> str:
    """Line and column of the second occurrence of `key` among the keys of one object (the
    parser's hook only knows the key). A walk over strings and brackets, on this error path
    only."""
    objects: list[set[str] | None] = []  # the keys seen so far in each open object (None: array)
    for m in re.finditer(_KEY_OR_BRACKET, text):
        token = m.group()
        if token in ("{", "["):
            objects.append(set() if token == "{" else None)
        elif token in ("}", "]"):
            if objects:
                objects.pop()
        elif token.endswith(":") and objects and objects[-1] is not None:
            name = json.loads(token[:-1])
            if name == key and name in objects[-1]:
                line = text.count("\n", 0, m.start()) + 1
                return f"line {line} column {m.start() - text.rfind(chr(10), 0, m.start())}"
            objects[-1].add(name)
    return ""


def _locate(text: str, token: str) -> str:
    """Line and column of a refused number or constant (the parser's hooks get no position).

    The first occurrence that is not part of a longer word or number; one inside a string that
    spells the same huge number could be named instead, which only makes the hint imprecise.
    """
    if not token:
        return ""
    m = re.search(r"(?<![\w.+\"-])" + re.escape(token) + r"(?![\w.\"])", text)
    if m is None:
        return ""
    line = text.count("\n", 0, m.start()) + 1
    return f"line {line} column {m.start() - text.rfind(chr(10), 0, m.start())}"


def _said(msg: str) -> str:
    """The json module's message as a whole clause: its "Unterminated string starting at" ends
    where its own "line x column y" would follow, which `where` gives already."""
    if msg.endswith(" at"):
        msg = msg[: -len(" at")] + " here"
    return msg[:1].lower() + msg[1:]


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {_short_repr(key)}", duplicate=key)
            seen.add(key)
    return obj


def _short_repr(key: str) -> str:
    """repr escapes control characters, so ANSI escapes never reach a terminal raw; cut long."""
    text = repr(key)
    return text if len(text) <= 80 else text[:77] + "..."


def _reject_constant(token: str) -> Any:
    refused = _Refused(f"{token} is not valid JSON", token=token)
    refused.corrupt = True
    raise refused


def _parse_float(token: str) -> float:
    value = float(token)
    if value in (float("inf"), float("-inf")):
        raise _Refused(f"number {token[:40]} is out of range", token=token)
    return value


def _parse_int(token: str) -> int:
    if len(token.lstrip("-")) > MAX_INT_DIGITS:
        digits = len(token.lstrip("-"))
        raise _Refused(f"integer with {digits} digits is out of range", token=token)
    return int(token)


def check_tree(obj: Any, path: str, depth: int, name: str) -> None:
    """Depth limit and lone surrogates, which the stdlib parser lets through."""
    if depth > MAX_DEPTH:
        where = path if len(path) <= 200 else path[:197] + "..."
        raise ParseError(name, where, f"nesting deeper than {MAX_DEPTH} levels", corrupt=False)
    if isinstance(obj, str):
        _check_string(obj, path, name)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _check_string(key, path, name)
            check_tree(value, jpath(path, key), depth + 1, name)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            check_tree(value, f"{path}[{i}]", depth + 1, name)


def _check_string(value: str, path: str, name: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ParseError(name, path, "string contains a lone surrogate", corrupt=False) from None
