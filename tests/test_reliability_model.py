"""A hypothesis state machine over the real store: allocate / record / remove / reload
/ crash-and-reload / migrate, checked after every step against a dict model: no ID reused, the
exact next number predicted, counters above every used number, files always valid."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hostile_helpers import COUNTERS, COUNTERS_FILE, MAPPING, MAPPING_FILE, Syscalls, write_state
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from extid import checkfiles, document, ids, migrations, model
from extid.errors import ConflictError, ExtidError
from extid.mapper import ExternalIDMapper
from extid.store import Store

# Two spellings of one task: IDs equal up to case are the same ID.
TASKS = ["TASK-E01-b2c4", "TASK-a3f2.1", "TASK-beef", "TASK-BEEF", "EPIC-0042", "DOC-E01-0077"]
ALLOCATE = [("github", None), ("azure_devops", None), ("jira", "PROJ"), ("jira", "NEW")]
ALLOCATE += [("linear", "TEAM")]
KEYED = ("jira", "linear")


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.base = Path(tempfile.mkdtemp(prefix="extid-model-"))
        self.dir = self.base / "state"
        write_state(self.dir)
        # folded task -> (stored spelling, tool -> external ID)
        self.model: dict[str, tuple[str, dict[str, str]]] = {}
        for task, entry in MAPPING["mappings"].items():
            self.model[ids.fold(task)] = (task, {t: v for t, v in entry.items() if t in ids.TOOLS})
        self.counters: dict[tuple[str, str | None], int] = {
            k: v for k, v in model.iter_counters(COUNTERS["counters"])
        }
        self.issued: set[tuple[str, str]] = {
            (t, v) for _, entry in self.model.values() for t, v in entry.items()
        }
        self.mapper = ExternalIDMapper(Store(self.dir, lock_timeout=5))
        self.faults = 0
        self.debris = False

    def teardown(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    # --- the model's rules ---------------------------------------------------------------

    def holder(self, tool: str, external: str) -> str | None:
        for folded, (_, entry) in self.model.items():
            if entry.get(tool) == external:
                return folded
        return None

    def predict_allocation(self, task: str, tool: str, key: str | None) -> str:
        entry = self.model.get(ids.fold(task), (task, {}))[1]
        if tool in entry:
            return entry[tool]
        number = max(self.counters.get((tool, key), 0), 1)
        while self.holder(tool, ids.format_external(tool, key, number)) is not None:
            number += 1
        return ids.format_external(tool, key, number)

    def apply_allocation(self, task: str, tool: str, key: str | None, external: str) -> None:
        _, entry = self.model.setdefault(ids.fold(task), (task, {}))
        if tool not in entry:
            assert (tool, external) not in self.issued, f"{tool} {external} issued twice"
            self.issued.add((tool, external))
            entry[tool] = external
            number = ids.parse_external(tool, external).number
            self.counters[(tool, key)] = max(self.counters.get((tool, key), 0), number + 1)

    # --- rules ----------------------------------------------------------------------------

    @rule(task=st.sampled_from(TASKS), tool_key=st.sampled_from(ALLOCATE))
    def allocate(self, task: str, tool_key: tuple[str, str | None]) -> None:
        self.debris = False
        tool, key = tool_key
        expected = self.predict_allocation(task, tool, key)
        got = self.mapper.allocate(task, tool, key)
        assert got == expected
        self.apply_allocation(task, tool, key, got)

    @rule(
        task=st.sampled_from(TASKS),
        tool=st.sampled_from(["github", "jira"]),
        number=st.integers(1, 1500),
    )
    def record(self, task: str, tool: str, number: int) -> None:
        self.debris = False
        key = "PROJ" if tool == "jira" else None
        external = ids.format_external(tool, key, number)
        holder = self.holder(tool, external)
        current = self.model.get(ids.fold(task), (task, {}))[1].get(tool)
        conflict = (holder is not None and holder != ids.fold(task)) or current not in (
            None,
            external,
        )
        if conflict:
            with pytest.raises(ConflictError):
                self.mapper.record(task, tool, external)
            return
        assert self.mapper.record(task, tool, external) == external
        self.model.setdefault(ids.fold(task), (task, {}))[1][tool] = external
        self.issued.add((tool, external))
        self.counters[(tool, key)] = max(self.counters.get((tool, key), 0), number + 1)

    @rule(task=st.sampled_from(TASKS), tool=st.sampled_from([None, *ids.TOOLS]))
    def remove(self, task: str, tool: str | None) -> None:
        self.debris = False
        removed = self.mapper.remove(task, tool)
        folded = ids.fold(task)
        entry = self.model.get(folded, (task, {}))[1]
        expected = {t: entry[t] for t in ids.TOOLS if t in entry and tool in (None, t)}
        assert removed == expected
        for t in expected:
            del entry[t]
        if folded in self.model and not entry:
            del self.model[folded]

    @rule()
    def reload(self) -> None:
        self.mapper = ExternalIDMapper(Store(self.dir, lock_timeout=5))

    @rule(
        task=st.sampled_from(TASKS),
        tool_key=st.sampled_from(ALLOCATE),
        step=st.integers(1, 30),
        error=st.sampled_from([errno.EIO, errno.ENOSPC, errno.EXDEV]),
    )
    def crash_and_reload(
        self, task: str, tool_key: tuple[str, str | None], step: int, error: int
    ) -> None:
        """An allocation that dies at one syscall (or not, if it has fewer), plus the debris
        of a killed writer; then a fresh mapper, as after a restart."""
        tool, key = tool_key
        expected = self.predict_allocation(task, tool, key)
        spy = Syscalls(fail_at=step, error=error)
        with pytest.MonkeyPatch.context() as mp:
            spy.install(mp)
            try:
                got: str | None = self.mapper.allocate(task, tool, key)
            except ExtidError:
                got = None
        self.faults += spy.failed is not None
        if got is not None:
            assert got == expected
            self.apply_allocation(task, tool, key, got)
        (self.dir / f".{MAPPING_FILE}.tmp-0123456789abcdef").write_bytes(b'{"half": ')
        self.debris = True
        self.reload()
        # A failed save may have written the counters (an unused gap), never lowered them.
        on_disk = self.mapper.counters()
        for (t, k), value in self.counters.items():
            assert model.get_counter(on_disk, t, k) >= value
        self.counters.update(model.iter_counters(on_disk))  # incl. a key the failed save added

    @precondition(lambda self: self._versions() == {migrations.CURRENT})
    @rule()
    def downgrade_files(self) -> None:
        """Files as an older tool wrote them (no envelope): read the same, written back so."""
        for name, kind in ((MAPPING_FILE, "mapping"), (COUNTERS_FILE, "counters")):
            path = self.dir / name
            doc = document.parse(path.read_bytes(), name).obj
            bare = migrations.downgrade(doc, kind, migrations.UNVERSIONED, name)
            path.write_bytes(document.canonical(bare))
        self.reload()

    @precondition(lambda self: self._versions() != {migrations.CURRENT})
    @rule()
    def migrate(self) -> None:
        self.debris = False
        done = Store(self.dir).migrate()
        assert {version for _, version, _ in done} == {migrations.UNVERSIONED}
        assert self._versions() == {migrations.CURRENT}
        self.reload()

    def _versions(self) -> set[str]:
        versions = set()
        for name, kind in ((MAPPING_FILE, "mapping"), (COUNTERS_FILE, "counters")):
            obj = document.parse((self.dir / name).read_bytes(), name).obj
            versions.add(migrations.version_of(obj, kind, name))
        return versions

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def files_are_valid(self) -> None:
        paths = [str(self.dir / MAPPING_FILE), str(self.dir / COUNTERS_FILE)]
        assert checkfiles.check_paths(paths) == []

    @invariant()
    def files_equal_the_model(self) -> None:
        on_disk = self.mapper.mappings()
        assert {ids.fold(k) for k in on_disk} == set(self.model)
        for task, entry in on_disk.items():
            stored, tools = self.model[ids.fold(task)]
            assert task == stored
            assert {t: v for t, v in entry.items() if t in ids.TOOLS} == tools

    @invariant()
    def counters_above_every_used_number(self) -> None:
        on_disk: dict[str, Any] = self.mapper.counters()
        for tool, external in self.issued:
            parsed = ids.parse_external(tool, external)
            holder = self.holder(tool, external)
            if holder is not None:
                assert model.get_counter(on_disk, tool, parsed.key) > parsed.number

    @invariant()
    def no_temp_file_outlives_a_write(self) -> None:
        """Killed writers' debris (and a keep-link whose unlink failed) is swept by the next
        writer, which always takes the lock."""
        if not self.debris:
            assert [n for n in os.listdir(self.dir) if ".tmp-" in n] == []


StoreMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("EXTID_MODEL_EXAMPLES", "25")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
TestStoreMachine = StoreMachine.TestCase
