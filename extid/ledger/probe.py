"""Whether a clone's git remotes already hold a remote ledger, asked without prompting and
within seconds: `extid install` turns the ledger on where one does, `extid doctor` reports a
clone that allocates alone beside it.

The question is `git ls-remote --refs NAME REF` in the user's repository (a reader: nothing
is fetched or written), origin first, with no terminal prompt, ssh in batch mode (unless the
user set their own ssh command) and a timeout. A clone without remotes costs one `git remote`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from ..git import config_get, run_git
from .config import DEFAULT_REF, OPT_OUT_KEY

#: Seconds a remote gets to answer before it counts as not reachable now.
PROBE_TIMEOUT = 5.0


class Found(NamedTuple):
    """What one remote said: `has` the ledger ref (True, False), or None and `why` not known."""

    remote: str
    has: bool | None
    why: str = ""


def remotes(top: Path) -> list[str]:
    """The clone's remotes, origin first."""
    proc = run_git(["remote"], top, check=False)
    names = proc.stdout.decode("utf-8", "replace").split()
    return sorted(names, key=lambda n: (n != "origin", n))


def opted_out(top: Path) -> bool:
    return (config_get(OPT_OUT_KEY, top) or "").strip().lower() == "off"


def probe(top: Path, names: list[str] | None = None) -> list[Found]:
    """Ask each remote (`names`, default all) in turn whether it has the ledger ref
    (`extid.ledgerRef`, default refs/extid/ledger), stopping at the first that has it."""
    names = remotes(top) if names is None else names
    if not names:
        return []
    ref = config_get("extid.ledgerRef", top) or DEFAULT_REF
    env = _quiet_env(top)
    found = []
    for name in names:
        proc = run_git(
            ["ls-remote", "--refs", name, ref], top, check=False, env=env, timeout=PROBE_TIMEOUT
        )
        if proc.returncode != 0:
            lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            found.append(
                Found(name, None, lines[0].strip() if lines else f"exit {proc.returncode}")
            )
            continue
        has = any(line.endswith(f"\t{ref}") for line in proc.stdout.decode().splitlines())
        found.append(Found(name, has))
        if has:
            break
    return found


def _quiet_env(top: Path) -> dict[str, str]:
    """The environment of a question that must not wait for a person: no credential prompt,
    ssh without passwords or host-key questions and a short connect timeout (unless the user
    chose their own ssh command, which is then theirs to make quiet)."""
    from ..git import absolute_git_env

    env = {**os.environ, **absolute_git_env(), "GIT_TERMINAL_PROMPT": "0"}
    own_ssh = "GIT_SSH_COMMAND" in env or "GIT_SSH" in env or config_get("core.sshCommand", top)
    if not own_ssh:
        seconds = int(PROBE_TIMEOUT)
        env["GIT_SSH_COMMAND"] = f"ssh -o BatchMode=yes -o ConnectTimeout={seconds}"
    return env


def turn_on(top: Path) -> list[str]:
    """`extid install` without `--remote`: where a remote already holds the ledger ref and
    this clone has no `extid.remote` (nor opted out), turn the remote ledger on for it. One
    line for what was done, one per remote that could not be asked."""
    from ..git import config_set

    if config_get("extid.remote", top) or opted_out(top):
        return []
    lines = []
    for found in probe(top):
        if found.has is None:
            lines.append(
                f"remote ledger: could not check {found.remote} ({found.why}); "
                f"`extid install --remote {found.remote}` turns it on if it has one"
            )
        elif found.has:
            config_set("extid.remote", found.remote, top, "local")
            lines.append(
                f"remote ledger: on, {found.remote} has one (set extid.remote={found.remote}, "
                "local): new numbers are reserved there first; `extid install --no-remote` "
                "turns it off"
            )
    return lines


def turn_off(top: Path) -> list[str]:
    """`extid install --no-remote`: the remote ledger off, and not turned on again by a later
    `extid install`."""
    from ..git import config_set, config_unset

    lines = []
    was = config_get("extid.remote", top, "local")
    if was:
        config_unset("extid.remote", top, "local")
        lines.append(f"unset extid.remote={was} (local): the remote ledger is off")
    changed = config_set(OPT_OUT_KEY, "off", top, "local")
    lines.append(f"{'set' if changed else 'kept'} {OPT_OUT_KEY}=off (local)")
    return lines
