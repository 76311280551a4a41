"""The remote ledger's settings: git config `extid.remote`, `extid.ledgerRef`,
`extid.leaseSize`, `extid.ledgerTimeout`, read in one call and set by `extid install --remote`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExtidError
from ..git import run_git
from . import wire

DEFAULT_REF = "refs/extid/ledger"
#: `git config extid.remoteLedger off` (`extid install --no-remote`): not turned on by itself.
OPT_OUT_KEY = "extid.remoteLedger"
#: Numbers reserved per push (benchmarks/LEDGER.md has the measurement behind the choice).
DEFAULT_LEASE = 1
#: Seconds an allocation keeps retrying a contended ledger before it gives up.
DEFAULT_TIMEOUT = 30.0


class LedgerError(ExtidError):
    """The remote ledger cannot reserve; nothing was allocated. `what` is what happened without
    the advice to an allocation (a renumbering that falls back says its own)."""

    def __init__(self, message: str, what: str = "") -> None:
        super().__init__(message)
        self.what = what or message.split("; ")[0]


class Unreachable(LedgerError):
    """The remote ledger's remote cannot be reached now (a network or path problem)."""


@dataclass
class Settings:
    """The git config of the remote ledger, read in one `git config` call."""

    remote: str
    ref: str = DEFAULT_REF
    lease: int = DEFAULT_LEASE
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def read(cls, cwd: Path) -> Settings | None:
        """The settings of the repository at `cwd`; None when no remote is configured."""
        proc = run_git(["config", "--get-regexp", r"^extid\."], cwd, check=False)
        values = {}
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            name, _, value = line.partition(" ")
            values[name.lower()] = value.strip()
        if not values.get("extid.remote"):
            return None
        try:
            lease = int(values.get("extid.leasesize", DEFAULT_LEASE))
            timeout = float(values.get("extid.ledgertimeout", DEFAULT_TIMEOUT))
        except ValueError as e:
            raise ExtidError(f"git config extid.leaseSize / extid.ledgerTimeout: {e}") from None
        ref = values.get("extid.ledgerref") or DEFAULT_REF
        cls.check(ref, lease, timeout)
        return cls(values["extid.remote"], ref, lease, timeout)

    @staticmethod
    def check(ref: str, lease: int, timeout: float) -> None:
        if not 1 <= lease <= 1_000_000:
            raise ExtidError(f"extid.leaseSize={lease}: use 1..1000000 numbers per push")
        if not 0 <= timeout < float("inf"):
            raise ExtidError(f"extid.ledgerTimeout={timeout}: use a number of seconds >= 0")
        if not ref.startswith("refs/") or ref.startswith("refs/heads/"):
            raise ExtidError(f"extid.ledgerRef={ref}: use a ref outside refs/heads/")


def resolve_remote(cwd: Path, settings: Settings) -> wire.Remote:
    """The fetch and push URLs of `extid.remote` as git would use them from `cwd`."""
    urls = []
    for extra in ([], ["--push"]):
        proc = run_git(["remote", "get-url", *extra, settings.remote], cwd, check=False)
        url = proc.stdout.decode("utf-8", "replace").strip()
        if proc.returncode != 0 or not url:
            raise LedgerError(
                f"git config extid.remote={settings.remote}: no such remote "
                f"(`git remote -v` lists them; `extid install --remote NAME` changes it)"
            )
        urls.append(_absolute(cwd, url))
    return wire.Remote(settings.remote, urls[0], urls[1], settings.ref)


def _absolute(cwd: Path, url: str) -> str:
    """A relative path URL made absolute (git reads it against the work tree's top level; the
    private repository lives elsewhere)."""
    scp_like = ":" in url.split("/", 1)[0]
    if "://" in url or scp_like or os.path.isabs(url):
        return url
    top = run_git(["rev-parse", "--show-toplevel"], cwd, check=False).stdout.decode().strip()
    return os.path.normpath(os.path.join(top or str(cwd), url))


def configure(
    top: Path, state_dir: Path, remote: str | None, ref: str | None, lease: int | None
) -> list[str]:
    """`extid install --remote NAME [--ledger-ref REF] [--lease-size N]`: the local git config
    of the remote ledger, checked before it is set, and the ledger ref created on the remote
    where it has none (with the marks of this clone's `state_dir`); returns what it did."""
    from .. import git

    values = {"extid.remote": remote, "extid.ledgerRef": ref, "extid.leaseSize": lease}
    if remote is None and git.config_get("extid.remote", top, "local") is None:
        raise ExtidError("--ledger-ref and --lease-size need --remote NAME (the remote ledger)")
    current = Settings.read(top) or Settings(str(remote))
    settings = Settings(
        remote or current.remote,
        ref or current.ref,
        current.lease if lease is None else lease,
        current.timeout,
    )
    Settings.check(settings.ref, settings.lease, settings.timeout)
    found = resolve_remote(top, settings)
    done = []
    for key, value in values.items():
        if value is not None:
            changed = git.config_set(key, str(value), top, "local")
            done.append(f"{'set' if changed else 'kept'} {key}={value} (local)")
    if remote is not None and git.config_unset(OPT_OUT_KEY, top, "local"):
        done.append(f"unset {OPT_OUT_KEY} (local): the remote ledger is on")
    from .remote import RemoteLedger
    from .upkeep import clone_marks, create

    ledger = RemoteLedger.configured(top)
    assert ledger is not None
    try:
        with ledger.locked():
            tip = wire.remote_tip(ledger.repo, found)
        where = f"at {tip[:12]}" if tip else ""
        if tip is None:
            tip = create(ledger, clone_marks(state_dir)) or ledger.load().tip
            where = f"created at {(tip or '?')[:12]}"
    except (wire.Unreachable, Unreachable) as e:
        what = getattr(e, "what", f"remote ledger: {found.name} not reachable now ({e})")
        return [
            *done,
            f"{what}; allocate --offline meanwhile (the first allocation creates the ledger "
            "ref if the remote has none)",
        ]
    except LedgerError as e:  # refused, or deleted since this clone last saw it: the way on
        return [*done, str(e).replace("nothing was allocated; ", "")]
    return [*done, f"remote ledger: {settings.ref} on {found.name} ({found.push_url}) {where}"]


# --- what a failure says (one line: what happened, that nothing was allocated, the way on) ---


def unreachable(remote: wire.Remote, detail: str) -> LedgerError:
    what = f"remote ledger: cannot reach {remote.name} ({detail})"
    return Unreachable(
        f"{what}; nothing was allocated; retry when it is reachable, or use --offline to "
        "allocate from this clone alone",
        what,
    )


def refused(remote: wire.Remote, reason: str) -> LedgerError:
    what = f"remote ledger: {remote.name} refused the update of {remote.ref} ({reason})"
    return LedgerError(
        f"{what}; nothing was allocated; ask for push rights to that ref, or use --offline",
        what,
    )


def rolled_back(remote: wire.Remote, seen: str, tip: str | None) -> str:
    what = "deleted" if tip is None else f"rolled back to {tip[:12]}"
    return (
        f"remote ledger: {remote.ref} on {remote.name} was {what}, not a "
        f"descendant of {seen[:12]}, the last tip this clone saw; numbers reserved since "
        "could be issued twice, so nothing was allocated; run `extid ledger --repair` to "
        "push a tip holding the marks of both"
    )
