"""`extid init`: create the state directory, its `.gitignore` and empty state files.

Idempotent: existing files are kept (and must be readable); missing pieces are added.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options of its own


def run(state_dir: str | None) -> int:
    from ..store import Store, resolve_state_dir

    store = Store(resolve_state_dir(state_dir))
    created = store.init()
    for path in created:
        print(f"created {path}")
    print(f"state directory {store.state_dir} is ready")
    return 0
