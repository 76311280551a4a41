"""The allocation ledger: high-water marks of issued numbers kept where git history cannot
rewind them, so that a number, once issued, is never issued again.

- `local`: the per-clone ledger in git's common directory (always on), its marks held
  under the ledger's lock (`Marks`);
- `issue`: the one way a number is picked, for an allocation or a renumbering: above the
  local marks and, with the remote ledger on, reserved there first;
- `journal`: the ledger's file, an append-only log of JSON lines (one fsync per entry);
- `seed`: a clone's first ledger, from the state files at HEAD and at every ref;
- `remote`, `wire`, `config`: the opt-in remote ledger (`extid install --remote NAME`): numbers
  reserved on a ref of the git remote by compare-and-swap pushes, with leases.
"""

from __future__ import annotations

from ..gitstate import common_dir as git_common_dir
from .local import (
    Ledger,
    Marks,
    highest,
    marks_of_bytes,
    marks_of_counters,
    marks_of_document,
    raise_seen,
)

__all__ = [
    "Ledger",
    "Marks",
    "git_common_dir",
    "highest",
    "marks_of_bytes",
    "marks_of_counters",
    "marks_of_document",
    "raise_seen",
]
