"""Atomic outputs (prognosis.outputs): every way a write can fail leaves the previous output.

The failures are real: a body that raises, a rename onto a folder, a read-only folder (mode
0555, or the immutable attribute when the tests run as root), a file-size limit
(``RLIMIT_FSIZE``, what a full disk looks like to the writer) and a process that dies between
the two renames of a folder output. No ``os`` function is replaced.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prognosis.exceptions import OutputError
from prognosis.output_folders import OutputKind, claim_output
from prognosis.outputs import atomic_directory, atomic_file, package_versions, sha256_file

ROOT = Path(__file__).resolve().parents[1]


def _names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def _previous_dataset(folder: Path) -> Path:
    """A previous dataset output, as a build leaves one."""
    out = folder / "gi"
    out.mkdir()
    (out / "manifest.json").write_text('{"cohort": "old", "files": {"dataset.parquet": ""}}')
    return out


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def freeze(folder: Path) -> Callable[[], None]:
    """Make ``folder`` really read-only for this process (mode 0555, or the immutable attribute
    when running as root, whom modes do not stop); return the function that undoes it. Skip
    where neither is possible."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    frozen = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    if frozen.returncode != 0:
        pytest.skip("running as root without chattr +i: no folder is read-only to root")
    return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` read-only inside the block (see :func:`freeze`)."""
    thaw = freeze(folder)
    try:
        yield
    finally:
        thaw()


def _run_child(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


# -- a write that raises ---------------------------------------------------------------------
def test_a_folder_write_that_raises_leaves_the_previous_output_and_no_staging(
    tmp_path: Path,
) -> None:
    out = _previous_dataset(tmp_path)
    with pytest.raises(RuntimeError, match="half-way"), atomic_directory(out) as staging:
        (staging / "manifest.json").write_text('{"cohort": "new"}')
        (staging / "dataset.parquet").write_bytes(b"half")
        raise RuntimeError("failed half-way")
    assert _names(tmp_path) == ["gi"]
    assert _names(out) == ["manifest.json"] and "old" in (out / "manifest.json").read_text()


def test_a_file_write_that_raises_leaves_the_previous_file_and_no_temporary(
    tmp_path: Path,
) -> None:
    out = tmp_path / "metrics.json"
    out.write_text("previous")
    with pytest.raises(ValueError, match="bad value"), atomic_file(out) as temporary:
        temporary.write_text("half")
        raise ValueError("bad value")
    assert _names(tmp_path) == ["metrics.json"] and out.read_text() == "previous"


def test_an_interrupt_is_not_swallowed_and_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "gi"
    with pytest.raises(KeyboardInterrupt), atomic_directory(out) as staging:
        (staging / "dataset.parquet").write_bytes(b"half")
        raise KeyboardInterrupt
    assert _names(tmp_path) == []


# -- a rename that fails ---------------------------------------------------------------------
def test_a_rename_onto_a_folder_fails_cleanly_and_keeps_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "predictions.parquet"
    out.mkdir()
    (out / "user-file.txt").write_text("keep me")
    with (
        pytest.raises(OutputError, match=r"predictions\.parquet: could not write the output"),
        atomic_file(out) as temporary,
    ):
        temporary.write_text("new")
    assert _names(tmp_path) == ["predictions.parquet"]
    assert (out / "user-file.txt").read_text() == "keep me"


def test_a_read_only_folder_is_refused_before_writing(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    out = folder / "metrics.json"
    out.write_text("previous")
    refused = r"metrics\.json: could not write the output \("
    with read_only(folder):
        with pytest.raises(OutputError, match=refused), atomic_file(out) as temporary:
            temporary.write_text("new")  # never reached
        with (
            pytest.raises(OutputError, match="nothing was replaced"),
            atomic_directory(folder / "gi"),
        ):
            pass
    assert _names(folder) == ["metrics.json"] and out.read_text() == "previous"


def test_a_folder_turned_read_only_before_the_rename_keeps_the_previous_output(
    tmp_path: Path,
) -> None:
    # The first rename (the previous output moved aside) fails: the previous output stays in
    # place. The staging copy cannot be removed from a read-only folder; the next writer does.
    out = _previous_dataset(tmp_path)
    thaw = None
    try:
        with (
            pytest.raises(OutputError, match="could not write the output"),
            atomic_directory(out) as staging,
        ):
            (staging / "manifest.json").write_text('{"cohort": "new"}')
            thaw = freeze(tmp_path)
    finally:
        if thaw is not None:
            thaw()
    assert "old" in (out / "manifest.json").read_text()
    assert [name for name in _names(tmp_path) if ".tmp-" in name]
    with claim_output(out, OutputKind.DATASET, overwrite=True):
        pass
    assert _names(tmp_path) == ["gi"] and "old" in (out / "manifest.json").read_text()


# -- a full disk ------------------------------------------------------------------------------
_FULL_DISK = """
    import resource, sys
    from pathlib import Path
    from prognosis.exceptions import OutputError
    from prognosis.outputs import atomic_directory, atomic_file
    resource.setrlimit(resource.RLIMIT_FSIZE, (16_384, 16_384))  # Python ignores SIGXFSZ
    out, folder = Path(sys.argv[1]), Path(sys.argv[2])
    for writer, target in ((atomic_file, out), (atomic_directory, folder)):
        try:
            with writer(target) as temporary:
                path = temporary / "dataset.parquet" if target == folder else temporary
                path.write_bytes(b"x" * 65_536)
        except OutputError as error:
            print(error)
"""


def test_a_full_disk_leaves_the_previous_outputs_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "predictions.parquet"
    out.write_bytes(b"previous" * 4096)  # larger than the limit the child runs under
    folder = _previous_dataset(tmp_path)
    child = _run_child(_FULL_DISK, str(out), str(folder))
    assert child.returncode == 0, child.stderr
    lines = child.stdout.splitlines()
    assert lines == [
        f"{out}: could not write the output (File too large); nothing was replaced",
        f"{folder}: could not write the output (File too large); nothing was replaced",
    ]
    assert out.read_bytes() == b"previous" * 4096
    assert _names(folder) == ["manifest.json"] and "old" in (folder / "manifest.json").read_text()
    assert _names(tmp_path) == ["gi", "predictions.parquet"]


# -- a crash between the two renames ----------------------------------------------------------
_CRASH_BETWEEN_RENAMES = """
    import os, sys
    from pathlib import Path
    from prognosis.outputs import atomic_directory
    renames = []

    def die_at_the_second_rename(frame, event, arg):
        # a profile hook sees each call of a C function just before it runs
        if event == "c_call" and arg is os.replace:
            renames.append(1)
            if len(renames) == 2:
                os._exit(9)  # killed: the previous output moved aside, the new one not in

    with atomic_directory(Path(sys.argv[1])) as staging:
        (staging / "manifest.json").write_text('{"cohort": "new", "files": {}}')
        sys.setprofile(die_at_the_second_rename)
"""


def test_a_crash_between_the_two_renames_is_put_right_by_the_next_writer(
    tmp_path: Path,
) -> None:
    out = _previous_dataset(tmp_path)
    child = _run_child(_CRASH_BETWEEN_RENAMES, str(out))
    assert child.returncode == 9, child.stderr
    names = _names(tmp_path)
    assert "gi" not in names
    old = [name for name in names if name.startswith(".gi.old-")]
    staged = [name for name in names if name.startswith(".gi.tmp-")]
    assert len(old) == 1 and len(staged) == 1
    assert "old" in (tmp_path / old[0] / "manifest.json").read_text()
    with claim_output(out, OutputKind.DATASET, overwrite=True):
        assert "old" in (out / "manifest.json").read_text()  # restored before any work
    assert _names(tmp_path) == ["gi"]


def test_a_completed_folder_write_replaces_the_previous_output_entirely(tmp_path: Path) -> None:
    out = _previous_dataset(tmp_path)
    (out / "stale.parquet").write_bytes(b"from the old run")
    with atomic_directory(out) as staging:
        (staging / "manifest.json").write_text('{"cohort": "new"}')
    assert _names(out) == ["manifest.json"] and "new" in (out / "manifest.json").read_text()
    assert _names(tmp_path) == ["gi"]
    assert _mode(out) == 0o700 and _mode(out / "manifest.json") == 0o600


def test_a_public_file_gets_the_usual_mode_and_a_private_one_stays_owner_only(
    tmp_path: Path,
) -> None:
    umask = os.umask(0)
    os.umask(umask)
    for private, mode in ((True, 0o600), (False, 0o666 & ~umask)):
        out = tmp_path / f"private-{private}.json"
        with atomic_file(out, private=private) as temporary:
            temporary.write_text("{}")
        assert _mode(out) == mode, private


# -- hashes and versions ----------------------------------------------------------------------
def test_sha256_of_a_file_is_the_published_digest(tmp_path: Path) -> None:
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")  # FIPS 180-2, appendix B.1
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file(path) == digest


def test_sha256_of_a_folder_lists_names_and_hashes_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    (folder / "b").mkdir(parents=True)
    (folder / "a.parquet").write_bytes(b"abc")
    (folder / "b" / "c.parquet").write_bytes(b"")
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # SHA-256 of b""
    abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    listing = f"a.parquet\t{abc}\nb/c.parquet\t{empty}\n".encode()
    assert sha256_file(folder) == hashlib.sha256(listing).hexdigest()
    shutil.move(folder / "b" / "c.parquet", folder / "b" / "d.parquet")
    assert sha256_file(folder) != hashlib.sha256(listing).hexdigest()  # names count


def test_package_versions_name_python_and_missing_packages() -> None:
    versions = package_versions(["numpy", "no-such-package-prognosis"])
    assert versions["python"] == platform.python_version()
    assert versions["no-such-package-prognosis"] == "not installed"
    assert versions["numpy"][0].isdigit()
