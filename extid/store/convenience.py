"""One-call functions over a state directory: load or save the mappings or the counters,
each save one transaction of its own."""

from __future__ import annotations

import copy
import os
from typing import Any

from .core import Store


def load_mappings(state_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """internal ID -> entry, as stored (a missing file is an empty registry)."""
    return Store(state_dir).load().mappings


def save_mappings(
    mappings: dict[str, Any], state_dir: str | os.PathLike[str] | None = None
) -> None:
    """Replace all mappings (validated; counters are raised above the numbers used)."""
    with Store(state_dir).transaction() as state:
        state.mapping["mappings"] = copy.deepcopy(mappings)


def load_counters(state_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """tool -> next available number (keyed tools: key -> number), reconciled."""
    return Store(state_dir).load().counter_values


def save_counters(
    counters: dict[str, Any], state_dir: str | os.PathLike[str] | None = None
) -> None:
    """Replace the counters (validated; never below a number already used)."""
    with Store(state_dir).transaction() as state:
        state.counters["counters"] = copy.deepcopy(counters)
