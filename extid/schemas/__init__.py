"""The shipped JSON Schemas (draft 2020-12), read from package data, never from the network."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

FILES = {"mapping": "mapping.schema.json", "counters": "counters.schema.json"}


def schema(kind: str) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(FILES[kind]).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


class Validator:
    """jsonschema's validator for one kind, yielding (JSON path, message) pairs."""

    def __init__(self, kind: str) -> None:
        from jsonschema import Draft202012Validator

        self._validator = Draft202012Validator(schema(kind))

    def errors(self, instance: Any) -> Iterator[tuple[str, str]]:
        from ..errors import jpath_of

        errors = sorted(self._validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
        for error in errors:
            message = error.message if len(error.message) <= 160 else error.message[:157] + "..."
            yield (
                jpath_of(error.absolute_path),
                message.encode("ascii", "backslashreplace").decode(),
            )


@functools.cache
def validator(kind: str) -> Validator:
    return Validator(kind)
