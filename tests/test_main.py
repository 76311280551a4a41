"""The command line's dispatch: every command listed, only the chosen one built."""

from __future__ import annotations

import pytest
from conftest import run_extid

from extid import __version__
from extid.main import COMMANDS, build_parser, main


def test_help_lists_every_command() -> None:
    result = run_extid("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert f"    {name} " in result.stdout


def test_only_the_selected_command_is_built() -> None:
    parser = build_parser("check")
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == ["check"]  # type: ignore[union-attr]


def test_version_and_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"extid {__version__}\n"
    with pytest.raises(SystemExit) as info:
        main(["nosuch"])
    assert info.value.code == 2
    assert "invalid choice: 'nosuch'" in capsys.readouterr().err


def test_state_dir_is_accepted_before_and_after_the_command(tmp_path: object) -> None:
    for args in (["--state-dir", "s", "check"], ["check", "--state-dir", "s"]):
        result = run_extid(*args)
        assert (result.returncode, result.stderr) == (0, ""), args


@pytest.mark.parametrize("name", COMMANDS)
def test_each_parser_gives_exactly_the_parameters_of_run(name: str) -> None:
    """main calls `run(**vars(namespace))`: the destinations are the typed parameters."""
    import inspect

    from extid.main import _module

    parser = build_parser(name)
    sub = next(a for a in parser._actions if a.dest == "command")
    dests = {a.dest for a in sub.choices[name]._actions if a.dest != "help"}  # type: ignore[index]
    params = inspect.signature(_module(name).run).parameters
    assert dests == set(params)
