"""Internal task IDs, the four external tools and their ID formats.

Pure functions only: no I/O. Everything that knows what an ID looks like lives here.
"""

from __future__ import annotations

import re
from collections import namedtuple

TYPE_CHECKING = False  # not typing's: see errors.py
if TYPE_CHECKING:
    from collections.abc import Container

# PREFIX-[SUB-]HASH[.N]; HASH is 4-6 hex digits in either case.
INTERNAL_ID_RE = re.compile(
    r"(?:TASK|EPIC|FEAT|DOC)-(?:[A-Z0-9]{2,4}-)?[0-9A-Fa-f]{4,6}(?:\.[0-9]+)?"
)
EPIC_REF_RE = re.compile(r"EPIC-[0-9]{3,}")
KEYED_ID_RE = re.compile(r"([A-Z][A-Z0-9_]{0,19})-([1-9][0-9]{0,15})")
NUMERIC_ID_RE = re.compile(r"[1-9][0-9]{0,15}")
PROJECT_KEY_RE = re.compile(r"[A-Z][A-Z0-9_]{0,19}")
RFC3339_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
RFC3339_UTC_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z")
#: The one form of `updated` extid writes (`store.codec.utc_now`): UTC, whole seconds, `Z`.
EXTID_STAMP_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")

#: Tools whose numbers are scoped by a project/team key (`PROJ-456`).
KEYED_TOOLS = ("jira", "linear")
#: Tools with one global integer sequence (`1234`).
NUMERIC_TOOLS = ("azure_devops", "github")
TOOLS = ("azure_devops", "github", "jira", "linear")
ENTRY_FIELDS = frozenset((*TOOLS, "created", "epic"))
MAX_COUNTER = 2**53


class ExternalID(namedtuple("ExternalID", ["tool", "key", "number"])):
    """A parsed external ID: `key` is None for the numeric tools. (A collections.namedtuple
    typed by its annotations, as errors.Problem.)"""

    __slots__ = ()
    tool: str
    key: str | None
    number: int

    def __str__(self) -> str:
        return f"{self.key}-{self.number}" if self.key is not None else str(self.number)


def is_internal_id(value: str) -> bool:
    return INTERNAL_ID_RE.fullmatch(value) is not None


def fold(internal_id: str) -> str:
    """The identity of an internal ID: IDs equal up to case are the same ID."""
    return internal_id.upper()


def check_tool(tool: str) -> str:
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r} (expected one of {', '.join(TOOLS)})")
    return tool


def parse_external(tool: str, value: str) -> ExternalID:
    """Parse `value` as an ID of `tool`; raises ValueError with a readable message."""
    check_tool(tool)
    if tool in KEYED_TOOLS:
        m = KEYED_ID_RE.fullmatch(value)
        if m is None:
            _refuse_huge(tool, value.rpartition("-")[2], value)
            raise ValueError(f"{tool} ID {value!r} is not KEY-n (e.g. PROJ-456)")
        return ExternalID(tool, m.group(1), int(m.group(2)))
    if NUMERIC_ID_RE.fullmatch(value) is None:
        _refuse_huge(tool, value, value)
        raise ValueError(f"{tool} ID {value!r} is not a positive integer without leading zeros")
    return ExternalID(tool, None, int(value))


def _refuse_huge(tool: str, number: str, value: str) -> None:
    """A number too long for the grammar is a positive integer all the same: say the limit."""
    if number.isascii() and number.isdigit() and not number.startswith("0"):
        raise ValueError(f"{tool} ID {value!r} is beyond the limit (numbers stay below 2**53)")


def normalize_external(tool: str, value: str) -> str:
    """Accept the spellings users type (`#234` for github, lower-case jira keys)."""
    value = value.strip()
    if tool == "github" and value.startswith("#"):
        value = value[1:]
    if tool in KEYED_TOOLS:
        value = value.upper()
    return str(parse_external(tool, value))


def format_external(tool: str, key: str | None, number: int) -> str:
    return str(ExternalID(tool, key, number))


def new_internal_id(
    taken: Container[str], prefix: str = "TASK", sub: str | None = None, hash_len: int = 4
) -> str:
    """A fresh random hash ID whose folded form is not in `taken`."""
    import secrets  # deferred: only `new-id` needs it, and it costs the hooks' start-up

    for _ in range(10_000):
        hash_ = secrets.token_hex(4)[:hash_len]
        candidate = f"{prefix}-{sub}-{hash_}" if sub else f"{prefix}-{hash_}"
        if fold(candidate) not in taken:
            if not is_internal_id(candidate):
                raise ValueError(f"{candidate!r} does not follow the ID grammar")
            return candidate
        if hash_len < 6 and _ % 100 == 99:
            hash_len += 1  # the short space is crowded: widen it rather than loop forever
    raise ValueError("could not find a free internal ID")
