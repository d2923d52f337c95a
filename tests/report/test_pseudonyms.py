"""The pseudonym mapping and key: owner-only from creation, merged under a lock."""

from __future__ import annotations

import csv
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from prognosis.exceptions import PrognosisError
from prognosis.outputs import atomic_file
from prognosis.report.pseudonyms import (
    folder_lock,
    load_key,
    private_folder,
    update_mapping,
)

FIELDS = ["pseudonym", "person_id", "index_date"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["pseudonym"]: row for row in csv.DictReader(handle)}


def _entry(person: int) -> dict[str, dict[str, str]]:
    name = f"P-{person:016x}"
    return {name: {"pseudonym": name, "person_id": str(person), "index_date": "2020-01-01"}}


def test_mapping_folder_and_file_are_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "pseudonyms" / "cohort"
    path = update_mapping(folder, _entry(1), FIELDS)
    assert _mode(folder) == 0o700
    assert _mode(path) == 0o600
    assert _mode(folder / ".lock") == 0o600
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "mapping.csv"]


def test_temporary_mapping_is_owner_only_from_its_creation_whatever_the_umask(
    tmp_path: Path,
) -> None:
    before = os.umask(0)  # the broadest umask: a plain create would give 0666
    try:
        with atomic_file(tmp_path / "mapping.csv", private=True) as temporary:
            assert _mode(temporary) == 0o600  # before anything is written
            temporary.write_text("pseudonym\n", encoding="utf-8")
            assert _mode(temporary) == 0o600
        assert _mode(tmp_path / "mapping.csv") == 0o600  # the rename keeps the mode
    finally:
        os.umask(before)


def test_key_is_created_owner_only_in_an_owner_only_folder(tmp_path: Path) -> None:
    before = os.umask(0)
    try:
        key = load_key(tmp_path / "private" / "pseudonym.key")
    finally:
        os.umask(before)
    assert len(key) == 32
    assert _mode(tmp_path / "private") == 0o700
    assert _mode(tmp_path / "private" / "pseudonym.key") == 0o600


def test_open_mapping_folder_is_made_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    private_folder(folder)
    assert _mode(folder) == 0o700


def test_file_as_mapping_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(PrognosisError, match=r"file is not a folder; give a folder"):
        private_folder(tmp_path / "file")


def test_leftover_temporary_file_of_a_crashed_run_is_removed(tmp_path: Path) -> None:
    folder = private_folder(tmp_path / "private")
    leftover = folder / ".mapping.csv.tmp-crashed"
    leftover.write_text("pseudonym,person_id\nP-1,1\n", encoding="utf-8")
    update_mapping(folder, _entry(2), FIELDS)
    assert not leftover.exists()
    assert list(_rows(folder / "mapping.csv")) == ["P-0000000000000002"]


def test_lock_is_exclusive_between_processes(tmp_path: Path) -> None:
    folder = private_folder(tmp_path / "private")
    script = textwrap.dedent(
        f"""
        import fcntl, os, sys
        handle = os.open({str(folder / ".lock")!r}, os.O_RDWR)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            sys.exit(3)
        """
    )
    with folder_lock(folder):
        held = subprocess.run([sys.executable, "-c", script], check=False)
    free = subprocess.run([sys.executable, "-c", script], check=False)
    assert (held.returncode, free.returncode) == (3, 0)


_WRITER = """
import sys, time
from pathlib import Path
from prognosis.report.pseudonyms import update_mapping
folder, first, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
start = Path(sys.argv[4])
while not start.exists():
    time.sleep(0.001)
for person in range(first, first + count):
    name = f"P-{person:016x}"
    row = {"pseudonym": name, "person_id": str(person), "index_date": ""}
    update_mapping(folder, {name: row}, ["pseudonym", "person_id", "index_date"])
"""


def test_concurrent_runs_lose_none_of_each_others_pseudonyms(tmp_path: Path) -> None:
    folder = tmp_path / "private"
    start = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(folder), str(first), "25", str(start)], env=env
        )
        for first in (0, 1000, 2000)
    ]
    start.touch()  # all three begin together
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    persons = sorted(int(row["person_id"]) for row in _rows(folder / "mapping.csv").values())
    assert persons == [*range(25), *range(1000, 1025), *range(2000, 2025)]
    assert _mode(folder / "mapping.csv") == 0o600
    assert not list(folder.glob(".*.tmp-*"))


def test_concurrent_first_runs_agree_on_one_key(tmp_path: Path) -> None:
    start = tmp_path / "go"
    script = (
        "import sys, time; from pathlib import Path\n"
        "from prognosis.report.pseudonyms import load_key\n"
        "while not Path(sys.argv[2]).exists(): time.sleep(0.001)\n"
        "print(load_key(Path(sys.argv[1])).hex())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    path = tmp_path / "private" / "pseudonym.key"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path), str(start)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    start.touch()
    keys = {run.communicate(timeout=120)[0].strip() for run in runs}
    assert len(keys) == 1 and len(keys.pop()) == 64
    assert _mode(path) == 0o600
