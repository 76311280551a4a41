"""Bytes of a state file <-> its document at the current version (validated on the way in,
written back at the file's own version on the way out), and the `updated` stamp."""

from __future__ import annotations

import copy
import time
from typing import Any

from .. import document, migrations, model
from ..document import COUNTERS, ENVELOPE_KEY, MAPPING, Kind
from ..errors import ParseError, ValidationError


def utc_now() -> str:
    """RFC 3339 UTC with `Z`, to the second: what extid writes into `updated` and `created`.

    The store's modules call it as `codec.utc_now()`, so a test fixes the clock in one place.
    """
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def empty_document(kind: Kind) -> dict[str, Any]:
    inner = {} if kind == MAPPING else model.empty_counters()
    return {ENVELOPE_KEY[kind]: inner, "updated": utc_now(), "version": migrations.CURRENT}


def decode(data: bytes, kind: Kind, name: str) -> tuple[dict[str, Any], str]:
    """Bytes of a `kind` file -> (current-version document, on-disk version).

    Another tool's counters file is read as extid's (`model.adopt_counters`).
    Raises ParseError (`corrupt` only when the bytes are not JSON), ValidationError (it
    parses but breaks the schema: the user's to fix) or NewerVersionError (it is not ours to
    read, and certainly not ours to overwrite).
    """
    from ..validate import check_document

    doc, version = parse_upgraded(data, kind, name)
    # Collisions between entries make a file wrong, not corrupt: restoring an older version
    # would throw away the merge that caused them. Writes still refuse them (see
    # `Store._commit`).
    problems = check_document(doc, kind, name, semantics=False)
    if problems:
        raise ValidationError(problems)
    if kind == COUNTERS and model.holds_last_used(doc):
        model.adopt_counters(doc)  # in memory: the file becomes extid's when next written
    return doc, version


def decode_or_empty(data: bytes | None, kind: Kind, name: str) -> tuple[dict[str, Any], str]:
    """`decode`, where a missing file (`data` None) is an empty document."""
    if data is None:
        return empty_document(kind), migrations.CURRENT
    return decode(data, kind, name)


def parse_upgraded(data: bytes, kind: Kind, name: str) -> tuple[dict[str, Any], str]:
    """`decode` without the validation: parsed, of the right kind, upgraded."""
    obj = document.load(data, name)
    found = document.kind_of(obj, name)
    if isinstance(obj, dict) and found is not None and found != kind:
        message = f"holds a {found} document, expected {kind}"
        raise ParseError(name, "$", message, corrupt=False)
    return migrations.upgrade(obj, kind, name)


def encode(doc: dict[str, Any], kind: Kind, version: str, name: str) -> bytes:
    """Canonical bytes of a current-version document written back at `version`."""
    if version != migrations.CURRENT:
        doc = migrations.downgrade(copy.deepcopy(doc), kind, version, name)
    return document.canonical(doc)
