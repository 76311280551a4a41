"""The durable layer: every side effect on a state directory, one concern per module.

- `locate`: where the state directory is (`resolve_state_dir`);
- `durable`: atomic write, `.bak`, directory fsync, temp sweep, quarantine;
- `codec`: bytes <-> documents at the current version;
- `state`: `State`, the documents a transaction hands out;
- `lock`: the directory's lock;
- `core`: `Store`, loading and transactions;
- `recovery`: restoring corrupt files from `.bak` or git `HEAD`;
- `tracked`: the fast path of single changes (`Store.tracked()`);
- `maintenance`: `init`, `repair`, `migrate`;
- `convenience`: `load_mappings`, `save_mappings`, `load_counters`, `save_counters`.
"""

from __future__ import annotations

from .codec import decode
from .convenience import load_counters, load_mappings, save_counters, save_mappings
from .core import Store
from .durable import WriteError, atomic_write, create_backup
from .locate import resolve_state_dir
from .lock import LOCK_FILE
from .state import State
from .tracked import Tracker

__all__ = [
    "LOCK_FILE",
    "State",
    "Store",
    "Tracker",
    "WriteError",
    "atomic_write",
    "create_backup",
    "decode",
    "load_counters",
    "load_mappings",
    "resolve_state_dir",
    "save_counters",
    "save_mappings",
]
