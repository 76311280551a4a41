"""The remote ledger's upkeep: what `extid ledger` does with it (a `snapshot` read without
writing anything in this clone, `repair` after a rollback or numbers issued here alone), and
its `create`ion by `extid install --remote`."""

from __future__ import annotations

from pathlib import Path

from . import wire
from .config import LedgerError, refused, rolled_back, unreachable
from .remote import LocalState, RemoteLedger, mark_name, message, parents


def repair(ledger: RemoteLedger) -> str:
    """After a rollback: push a commit descending from both the remote tip and the last
    tip seen here, holding the higher mark of each counter. Else raise the remote marks
    past the numbers issued here alone (`--offline`, or a renumbering while the remote was
    out of reach)."""
    with ledger.locked() as state:
        seen = state.tip
        state.tip, state.marks = None, {}  # sync without the rollback check
        tip, marks = ledger.sync(state)
        if seen is None or (tip is not None and wire.is_ancestor(ledger.repo, seen, tip)):
            if not state.unpushed:
                return "remote ledger: nothing to repair"
            raised = ", ".join(f"{n} {v}" for n, v in sorted(state.unpushed.items()))
            ledger.push_marks(state, {n: (v, 0) for n, v in state.unpushed.items()})
            return f"remote ledger: marks raised past what was issued here alone ({raised})"
        old = wire.read_marks(ledger.repo, seen)
        merged = {k: max(marks.get(k, 0), old.get(k, 0)) for k in {*marks, *old}}
        both = [*parents(tip), seen]
        commit = wire.build(ledger.repo, merged, both, message("repair", 0, -1))
        try:
            if wire.push(ledger.repo, ledger.remote, commit, tip) is not None:
                raise LedgerError("remote ledger: changed during the repair; run it again")
        except wire.Refused as e:
            raise refused(ledger.remote, str(e)) from None
        except wire.Unreachable as e:
            raise unreachable(ledger.remote, str(e)) from None
        state.tip, state.marks = commit, merged
        ledger.save(state)
        return (
            f"remote ledger: {ledger.remote.ref} on {ledger.remote.name} repaired at {commit[:12]}"
        )


def snapshot(ledger: RemoteLedger) -> tuple[str | None, dict[str, int], LocalState]:
    """(remote tip, its marks, this clone's state) read without writing anything here: a
    tip not present locally is fetched into a throwaway repository."""
    import tempfile

    state = ledger.load()
    with tempfile.TemporaryDirectory(prefix="extid-ledger-") as tmp:
        repo = ledger.repo if (ledger.repo / "HEAD").exists() else Path(tmp) / "ledger.git"
        wire.ensure_repo(repo)
        try:
            tip = wire.remote_tip(repo, ledger.remote)
            if tip is not None and not wire.has_commit(repo, tip):
                repo = Path(tmp) / "ledger.git"
                wire.ensure_repo(repo)
                tip = wire.fetch(repo, ledger.remote)
        except wire.Unreachable as e:
            raise LedgerError(f"remote ledger: cannot reach {ledger.remote.name} ({e})") from None
        marks = wire.read_marks(repo, tip)
        if state.tip is not None and not (tip and wire.is_ancestor(repo, state.tip, tip)):
            raise LedgerError(rolled_back(ledger.remote, state.tip, tip))
    return tip, marks, state


def clone_marks(state_dir: Path) -> dict[str, int]:
    """The highest number this clone used of each counter, by the ledger's names: its local
    ledger (seeded now if new) and its state files as they are."""
    from .. import model
    from ..mapper import ExternalIDMapper
    from .local import Ledger, highest, marks_of_counters

    used = marks_of_counters(ExternalIDMapper(state_dir).counters())
    local = Ledger.of(state_dir)
    if local is not None:
        with local.hold() as held:
            used = highest(used, dict(model.iter_counters(held.values)))
    return {mark_name(*k): v for k, v in used.items() if v > 0}


def create(ledger: RemoteLedger, marks: dict[str, int]) -> str | None:
    """Create the ledger ref where the remote has none, holding `marks` (`clone_marks`), so
    that a teammate's `extid install` finds it before the first allocation; the tip, None when
    it existed already. Another clone's creation first: `marks` go up on top of it."""
    with ledger.locked() as state:
        if ledger.sync(state)[0] is not None:
            ledger.save(state)
            return None
        commit = wire.build(ledger.repo, marks, [], message("created", 0, -1))
        try:
            contended = wire.push(ledger.repo, ledger.remote, commit, None)
        except wire.Refused as e:
            raise refused(ledger.remote, str(e)) from None
        except wire.Unreachable as e:
            raise unreachable(ledger.remote, str(e)) from None
        if contended is None:
            state.tip, state.marks = commit, dict(marks)
        else:
            for name, number in marks.items():
                state.unpushed[name] = max(state.unpushed.get(name, 0), number)
            ledger.push_marks(state, {})
        ledger.save(state)
        return state.tip
