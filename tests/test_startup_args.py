"""The hooks' command lines are parsed without argparse (start-up): same result as argparse's,
and anything else still goes to argparse."""

from __future__ import annotations

import pytest

from extid.main import _hook_args, _selected, build_parser, main

HOOK_LINES = [
    ["check"],
    ["check", "a.json"],
    ["check", "a.json", "dir/b c.json", "", "check", "format"],
    ["check", "--staged"],
    ["check", "--staged", "a.json", "b.json"],
    ["check", "--staged", "--replaying"],  # prepare-commit-msg, before every commit message
    ["check", "--staged", "--history-only"],  # pre-merge-commit
    ["format"],
    ["format", "a.json"],
    ["format", "--check"],
    ["format", "--check", "a.json", "b.json"],
    ["format", "check", "a.json"],
]

OTHER_LINES = [
    [],
    ["check", "-"],
    ["check", "--json", "a.json"],
    ["check", "--", "a.json"],
    ["check", "a.json", "--state-dir", "s"],
    ["check", "--state-dir=s", "a.json"],
    ["check", "-h"],
    ["check", "a.json", "--staged"],
    ["check", "--against", "origin/main"],
    ["check", "--replaying"],
    ["check", "--staged", "--replaying", "a.json"],
    ["check", "--staged", "--history-only", "--replaying"],
    ["check", "--staged", "--replay"],
    ["format", "a.json", "--check"],
    ["format", "--chec", "a.json"],
    ["format", "--check", "--check", "a.json"],
    ["format", "--check", "-x.json"],
    ["--state-dir", "s", "check", "a.json"],
    ["--version", "check"],
    ["lookup", "TASK-abcd"],
    ["chek", "a.json"],
]


@pytest.mark.parametrize("argv", HOOK_LINES, ids=" ".join)
def test_hook_lines_parse_as_argparse_parses_them(argv: list[str]) -> None:
    fast = _hook_args(list(argv))
    assert fast is not None
    slow = vars(build_parser(_selected(argv)).parse_args(argv))
    assert fast == (slow.pop("command"), slow)


@pytest.mark.parametrize("argv", OTHER_LINES, ids=" ".join)
def test_other_lines_are_left_to_argparse(argv: list[str]) -> None:
    assert _hook_args(list(argv)) is None


def test_version_without_argparse_prints_and_exits_as_argparse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as fast:
        main(["--version"])
    fast_out = capsys.readouterr()
    with pytest.raises(SystemExit) as slow:
        build_parser(None).parse_args(["--version"])
    assert (fast.value.code, fast_out) == (slow.value.code, capsys.readouterr())
