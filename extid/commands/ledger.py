"""`extid ledger [--repair]`: the remote ledger's marks, this clone's leases, and how far the
state files lag behind them. Read-only, except `--repair` after a rollback."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repair",
        action="store_true",
        help="after a rollback or deletion of the ledger ref: push a tip holding both marks; "
        "else raise the remote marks past numbers issued here alone (--offline, or a "
        "renumbering while the remote was out of reach)",
    )


def run(state_dir: str | None, repair: bool = False) -> int:
    from ..ledger.remote import RemoteLedger, mark_name
    from ..ledger.upkeep import repair as repair_ledger
    from ..ledger.upkeep import snapshot
    from ..mapper import ExternalIDMapper
    from ..model import get_counter
    from ..store import resolve_state_dir

    mapper = ExternalIDMapper(resolve_state_dir(state_dir))
    ledger = RemoteLedger.configured(mapper.store.state_dir)
    if ledger is None:
        print("remote ledger: off (`extid install --remote NAME` turns it on)")
        return 0
    if repair:
        print(repair_ledger(ledger))
        return 0
    tip, marks, state = snapshot(ledger)
    remote = ledger.remote
    where = f"at {tip[:12]}" if tip else "not created yet"
    print(f"remote ledger: {remote.ref} on {remote.name} ({remote.push_url}) {where}")
    print(f"lease size {ledger.settings.lease}; last tip seen here: {(state.tip or '-')[:12]}")
    counters = mapper.counters()
    # Noted as issued here alone and not yet under the remote marks (another clone's push
    # may have raised them past since).
    alone = {n: v for n, v in state.unpushed.items() if marks.get(n, 0) < v}
    names = {*marks, *state.leases, *alone}
    for tool, value in counters.items():
        keys = value if isinstance(value, dict) else {None: value}
        names |= {mark_name(tool, key) for key in keys}
    for name in sorted(names):
        tool, _, key = name.partition(":")
        next_in_files = max(get_counter(counters, tool, key or None), 1)
        mark = marks.get(name, 0)
        lease = state.leases.get(name)
        leased = f"leased {lease[0]}..{lease[1]}" if lease else "no lease"
        lag = max(mark - (next_in_files - 1), 0)
        behind = f", remote behind by {alone[name] - mark}" if name in alone else ""
        print(
            f"  {name}: remote mark {mark}, {leased}, files' next {next_in_files} "
            f"(lag {lag}{behind})"
        )
    if alone:
        issued = ", ".join(f"{name} {n}" for name, n in sorted(alone.items()))
        print(
            f"issued here while the remote was out of reach: {issued} (the next allocation, or "
            "`extid ledger --repair`, raises the remote marks past them)"
        )
    if state.pending:
        print(f"pending push of {state.pending['commit'][:12]} (settled on the next allocation)")
    return 0
