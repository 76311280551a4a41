"""The version is written twice (pyproject.toml for packaging, extid.__version__ for
`extid --version` without importing importlib.metadata): they must agree."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import extid

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _fallback_version(text: str) -> str:
    """3.10 has no tomllib: the [project] table's `version = "..."` line is enough here."""
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    found = re.search(r'^version\s*=\s*"([^"]+)"', project, re.MULTILINE)
    assert found is not None, "no version in pyproject's [project] table"
    return found.group(1)


def _project_version(text: str) -> str:
    if sys.version_info >= (3, 11):
        import tomllib

        return str(tomllib.loads(text)["project"]["version"])
    return _fallback_version(text)


def test_pyproject_version_is_the_package_version() -> None:
    assert _project_version(PYPROJECT.read_text(encoding="utf-8")) == extid.__version__


def test_the_310_fallback_reads_the_same_version() -> None:
    assert _fallback_version(PYPROJECT.read_text(encoding="utf-8")) == extid.__version__
