"""Exit codes of the ways a run can end other than success: a bug (3, one line, details in the
cache log), a user error (1), a usage error (2), an interrupt (130), a closed stdout (141)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from extid import __version__
from extid.main import main

#: Runs `extid ARGV` in a fresh interpreter with one command's run replaced by a fault: the
#: mock only injects the fault, everything around it is the real CLI.
FAULTY = """\
import sys
import extid.commands.{module} as command

def run(**params):
    raise {exc}

command.run = run
from extid.main import main
raise SystemExit(main(sys.argv[1:]))
"""


def _with_fault(
    exc: str, *argv: str, env: dict[str, str], module: str = "list"
) -> subprocess.CompletedProcess[str]:
    code = FAULTY.format(module=module, exc=exc)
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=60
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}
    return {**env, **extra}


def test_a_bug_exits_3_with_one_line_and_the_details_in_the_cache_log(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = _with_fault(
        'KeyError("boom\\nsecond line")', "list", "--json", env=_env(XDG_CACHE_HOME=str(cache))
    )
    log = cache / "extid" / "extid.log"
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "bug in extid" in result.stderr and str(log) in result.stderr
    assert "KeyError" in result.stderr
    details = log.read_text()
    assert f"extid version: {__version__}" in details
    assert f"python: {sys.version.split()[0]}" in details
    assert "argv: ['extid', 'list', '--json']" in details
    assert "Traceback (most recent call last)" in details and "KeyError" in details


def test_without_xdg_cache_home_the_log_is_under_home_cache(tmp_path: Path) -> None:
    result = _with_fault("ZeroDivisionError()", "list", env=_env(HOME=str(tmp_path)))
    log = tmp_path / ".cache" / "extid" / "extid.log"
    assert result.returncode == 3 and str(log) in result.stderr
    assert "ZeroDivisionError" in log.read_text()


def test_an_unwritable_cache_puts_the_traceback_on_stderr(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")  # the cache dir would have to be created under a file
    result = _with_fault("RuntimeError('x')", "list", env=_env(XDG_CACHE_HOME=str(blocker)))
    assert result.returncode == 3
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("extid: bug: ")
    assert "could not write" in result.stderr


def test_keyboard_interrupt_exits_130_silently(tmp_path: Path) -> None:
    result = _with_fault("KeyboardInterrupt", "list", env=_env(XDG_CACHE_HOME=str(tmp_path)))
    assert (result.returncode, result.stdout, result.stderr) == (130, "", "")
    assert not (tmp_path / "extid").exists()  # not a bug: nothing logged


def test_a_closed_stdout_exits_141_silently(tmp_path: Path) -> None:
    """`extid list | head -1` on a big registry: the reader goes away mid-write."""
    code = (
        "import sys\nimport extid.commands.list as command\n"
        "def run(**params):\n"
        "    for i in range(100000):\n        print(f'TASK-{i:05x}  github={i + 1}')\n"
        "    return 0\n"
        "command.run = run\nfrom extid.main import main\nraise SystemExit(main(['list']))\n"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(XDG_CACHE_HOME=str(tmp_path)),
    )
    assert writer.stdout is not None and writer.stderr is not None
    assert writer.stdout.readline().startswith(b"TASK-00000")
    writer.stdout.close()
    err = writer.stderr.read()
    assert writer.wait(timeout=60) == 141
    assert err == b""
    assert not (tmp_path / "extid").exists()


def test_user_and_usage_errors_keep_their_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--state-dir", str(tmp_path / "s"), "remove", "TASK-ab12"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("extid: error: ") and err.count("\n") == 1
    with pytest.raises(SystemExit) as usage:
        main(["allocate", "TASK-ab12", "nosuchtool"])
    assert usage.value.code == 2
    assert "invalid choice: 'nosuchtool'" in capsys.readouterr().err


def test_a_bug_in_process_returns_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import extid.commands.lookup as lookup

    def broken(**params: object) -> int:
        raise AttributeError("no such thing")

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    monkeypatch.setattr(lookup, "run", broken)
    assert main(["lookup", "TASK-ab12"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "AttributeError: no such thing" in err
    assert (tmp_path / "c" / "extid" / "extid.log").is_file()
