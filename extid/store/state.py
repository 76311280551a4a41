"""`State`: both documents of a state directory in memory, as a transaction hands them out
(counters reconciled with the mappings), and what changed since they were loaded."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import migrations, model
from ..document import COUNTERS, MAPPING, Kind

if TYPE_CHECKING:
    from ..ledger import Marks


@dataclass
class State:
    """Both documents at the current version, plus the version each file has on disk.

    Mutate `mapping` / `counters` inside `Store.transaction()`; they are saved on exit.
    """

    mapping: dict[str, Any]
    counters: dict[str, Any]
    mapping_version: str = migrations.CURRENT
    counters_version: str = migrations.CURRENT
    # Copies as loaded (after reconciling): what "changed" is measured against.
    _seen: dict[Kind, Any] = field(default_factory=dict, repr=False, compare=False)
    #: The clone's ledger, held while a transaction is open (None outside a git repository).
    ledger: Marks | None = field(default=None, repr=False, compare=False)

    @property
    def mappings(self) -> dict[str, Any]:
        """The `mappings` object: internal ID -> entry."""
        value: dict[str, Any] = self.mapping["mappings"]
        return value

    @property
    def counter_values(self) -> dict[str, Any]:
        """The `counters` object: tool -> next number (or key -> next number)."""
        value: dict[str, Any] = self.counters["counters"]
        return value

    def doc(self, kind: Kind) -> dict[str, Any]:
        return self.mapping if kind == MAPPING else self.counters

    def version(self, kind: Kind) -> str:
        return self.mapping_version if kind == MAPPING else self.counters_version

    def remember(self) -> None:
        self._seen = {k: copy3(self.doc(k)) for k in (MAPPING, COUNTERS)}

    def changed(self, kind: Kind) -> bool:
        return bool(self._seen.get(kind) != self.doc(kind))


def reconciled(
    mapping: dict[str, Any],
    mapping_version: str,
    counters: dict[str, Any],
    counters_version: str,
    high: dict[model.CounterKey, int] | None = None,
) -> State:
    """The `State` of two loaded documents, counters raised above the numbers used (`high`:
    those numbers, when the caller already knows them)."""
    model.reconcile(counters["counters"], mapping["mappings"], high)
    state = State(mapping, counters, mapping_version, counters_version)
    if high is None:  # a tracked transaction knows what changes without copies
        state.remember()
    return state


def copy3(obj: Any, depth: int = 3) -> Any:
    """A copy of a document's three levels of objects (a valid document has no more, and
    its leaves are str/int): far cheaper than dumping it to compare before and after."""
    if depth == 0 or not isinstance(obj, dict):
        return copy.deepcopy(obj) if isinstance(obj, (dict, list)) else obj
    return {k: copy3(v, depth - 1) for k, v in obj.items()}
