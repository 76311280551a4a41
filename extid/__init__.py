"""extid: the registry of internal <-> external task IDs, kept safe inside a git repository.

The public API is curated here. Submodules load on first use (PEP 562), so `extid --version`
and the hooks do not pay for the store, git or jsonschema unless they need them.
"""

from __future__ import annotations

import importlib

# Not typing's: importing typing is ~3 ms of every start (mypy gives any constant of this
# name its meaning).
TYPE_CHECKING = False

__version__ = "0.1.0"

_EXPORTS = {
    "Store": "store",
    "State": "store",
    "atomic_write": "store",
    "create_backup": "store",
    "load_mappings": "store",
    "save_mappings": "store",
    "load_counters": "store",
    "save_counters": "store",
    "resolve_state_dir": "store",
    "ExternalIDMapper": "mapper",
    "ExtidError": "errors",
    "ParseError": "errors",
    "ValidationError": "errors",
    "NewerVersionError": "errors",
    "LockTimeoutError": "errors",
    "ConflictError": "errors",
    "UnsafePathError": "errors",
    "Problem": "errors",
}

__all__ = [
    "ConflictError",
    "ExternalIDMapper",
    "ExtidError",
    "LockTimeoutError",
    "NewerVersionError",
    "ParseError",
    "Problem",
    "State",
    "Store",
    "UnsafePathError",
    "ValidationError",
    "__version__",
    "atomic_write",
    "create_backup",
    "load_counters",
    "load_mappings",
    "resolve_state_dir",
    "save_counters",
    "save_mappings",
]

if TYPE_CHECKING:
    from typing import Any

    from .errors import (
        ConflictError,
        ExtidError,
        LockTimeoutError,
        NewerVersionError,
        ParseError,
        Problem,
        UnsafePathError,
        ValidationError,
    )
    from .mapper import ExternalIDMapper
    from .store import (
        State,
        Store,
        atomic_write,
        create_backup,
        load_counters,
        load_mappings,
        resolve_state_dir,
        save_counters,
        save_mappings,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'extid' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
