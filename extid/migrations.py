"""Format versions and the ordered steps between them.

Each step is a pair of pure functions (document in, new document out) between two adjacent
versions. Loading applies `upgrade` in memory; `extid migrate` is the only thing that writes a
file at a newer version, and an ordinary write puts a document back at the version its file had
(`downgrade`), so an older extid sharing the repository is never surprised.
"""

from __future__ import annotations

from collections import namedtuple

from .document import ENVELOPE_KEY
from .errors import ExtidError, NewerVersionError, ParseError

TYPE_CHECKING = False  # not typing's: see errors.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeAlias

    from .document import Kind

#: The pseudo-version of a file without the envelope (a bare object of mappings or counters).
UNVERSIONED = "0"
#: Epoch stands in for an unknown `updated`: deterministic, and older than any real write.
UNKNOWN_TIME = "1970-01-01T00:00:00Z"

Transform: TypeAlias = "Callable[[Kind, Any], Any]"


class Step(namedtuple("Step", ["source", "target", "up", "down"])):
    """One step between adjacent versions (a collections.namedtuple typed by its annotations,
    as errors.Problem)."""

    __slots__ = ()
    source: str
    target: str
    up: Transform
    down: Transform | None  # None: the target format cannot be expressed in the source


def _wrap(kind: Kind, bare: Any) -> Any:
    return {ENVELOPE_KEY[kind]: bare, "updated": UNKNOWN_TIME, "version": "1.0"}


def _unwrap(kind: Kind, doc: Any) -> Any:
    return doc[ENVELOPE_KEY[kind]]


STEPS: tuple[Step, ...] = (Step(UNVERSIONED, "1.0", _wrap, _unwrap),)
VERSIONS: tuple[str, ...] = (UNVERSIONED, *(s.target for s in STEPS))
CURRENT = VERSIONS[-1]


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def version_of(obj: Any, kind: Kind, name: str) -> str:
    """The format version of a parsed document; raises for one this extid cannot read."""
    if not isinstance(obj, dict):
        got = type(obj).__name__
        raise ParseError(name, "$", f"expected an object, got {got}", corrupt=False)
    if ENVELOPE_KEY[kind] not in obj:
        return UNVERSIONED
    version = obj.get("version")
    if not isinstance(version, str):
        raise ParseError(name, "$.version", "missing or not a string", corrupt=False)
    if version in VERSIONS:
        return version
    try:
        newer = _key(version) > _key(CURRENT)
    except ValueError:
        raise _unknown(name, version) from None
    if newer:
        raise NewerVersionError(
            f"{name}: format version {version} is newer than this extid understands "
            f"(up to {CURRENT}); upgrade extid - the file was not changed"
        )
    raise _unknown(name, version)


def _unknown(name: str, version: str) -> ParseError:
    return ParseError(name, "$.version", f"unknown format version {version!r}", corrupt=False)


def upgrade(obj: Any, kind: Kind, name: str) -> tuple[Any, str]:
    """Bring a document to CURRENT in memory; returns it with the version it had."""
    original = version_of(obj, kind, name)
    index = VERSIONS.index(original)
    for step in STEPS[index:]:
        obj = step.up(kind, obj)
    return obj, original


def downgrade(obj: Any, kind: Kind, target: str, name: str) -> Any:
    """Express a CURRENT document at `target` (the version its file has on disk)."""
    index = VERSIONS.index(target)
    for step in reversed(STEPS[index:]):
        if step.down is None:
            raise ExtidError(
                f"{name}: cannot write format {step.target} back as {step.source}; "
                "run `extid migrate`"
            )
        obj = step.down(kind, obj)
    return obj
