"""Fault injection: concurrent runs, kill -9, a full disk, a read-only disk, symlinks.

DESIGN (*Outputs*, *One writer per output folder*): after any failure or kill, ``DIR``
holds the earlier complete run or the new complete run, never a mixture; a second run
into a folder that a run is writing stops at once (exit 2) and touches nothing; a
symbolic link ``--out`` stays a link to the new complete run; a disk that cannot take
the outputs gives one message (exit 2) and replaces nothing, and a read-only one is
found before the computation.

Processes are sequenced deterministically: ``tests/_fault_runner.py`` runs the real
``facplan`` command and stops itself with SIGSTOP at a named point after telling the
test through a pipe; the test then starts the competing run, or sends SIGCONT/SIGKILL.
Nothing waits on a clock. "Complete run" is checked against runs written in-process by
the API (same files, same bytes apart from the times).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import facplan
from facplan import FacplanWarning
from facplan.io.atomic import MARKER
from facplan.testing import grid_city, write_scenario

from .test_reliability import _normalized, _snapshot

ROOT = Path(__file__).resolve().parents[1]
RUNNER = Path(__file__).with_name("_fault_runner.py")
BUSY = "another facplan run is writing into this folder"


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _cli(*args, preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facplan.cli", *map(str, args)], capture_output=True,
        text=True, timeout=600, env=_env(), preexec_fn=preexec_fn,
    )


class Paused:
    """``facplan ARGS`` that stops itself at ``point`` (see ``_fault_runner.py``)."""

    def __init__(self, point: str, *args) -> None:
        r, w = os.pipe()
        self.point = point
        self.proc = subprocess.Popen(
            [sys.executable, str(RUNNER), point, str(w), *map(str, args)],
            pass_fds=(w,), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_env(),
        )
        os.close(w)
        self._pipe = os.fdopen(r, "rb")

    def reached(self) -> bool:
        """Block until the run stops at its point (True) or exits without reaching it."""
        line = self._pipe.readline()
        if not line:
            return False
        assert line == f"paused {self.point}\n".encode()
        _, status = os.waitpid(self.proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status)
        return True

    def wait_paused(self) -> None:
        if not self.reached():
            out, err = self.proc.communicate(timeout=600)
            pytest.fail(f"the run exited ({self.proc.returncode}) before {self.point}: {err}")

    def finish(self, sig: int = signal.SIGCONT) -> subprocess.CompletedProcess:
        os.kill(self.proc.pid, sig)
        out, err = self.proc.communicate(timeout=600)
        self._pipe.close()
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under ``folder``, hidden ones too."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def _strays(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> dict:
    """Two scenarios of one grid city and their complete runs written in-process."""
    folder = tmp_path_factory.mktemp("faults")
    v1 = grid_city(folder, n=8)
    v2 = dict(v1, name="grid-city-v2")
    v2["optimize"] = [dict(v1["optimize"][0], sites=1)]
    paths = {"v1": write_scenario(folder, v1, "v1.yaml"),
             "v2": write_scenario(folder, v2, "v2.yaml")}
    refs = {}
    for key, path in paths.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FacplanWarning)
            facplan.run(facplan.load_scenario(path)).write(folder / f"ref_{key}")
        refs[key] = _normalized(_snapshot(folder / f"ref_{key}"))
    assert refs["v1"] != refs["v2"]
    return {"folder": folder, **paths, "ref": refs}


def _is_run(out: Path, city: dict, key: str) -> bool:
    return (out / MARKER).is_file() and _normalized(_snapshot(out)) == city["ref"][key]


@pytest.fixture
def earlier(city, tmp_path) -> Path:
    """``out`` holding a complete earlier run (v2)."""
    out = tmp_path / "out"
    shutil.copytree(city["folder"] / "ref_v2", out)
    return out


# --------------------------------------------------------------------------- one writer


@pytest.mark.parametrize("point", ["compute", "write", "swap", "mid-swap"])
def test_second_run_stops_at_once_and_touches_nothing(city, earlier, point):
    """A works (computing, paused between its write and its swap, or between the two
    renames of the swap); B into the same folder exits 2 at once and changes nothing;
    A then completes and the folder holds A's complete run."""
    out = earlier
    a = Paused(point, "run", city["v1"], "--out", out)
    a.wait_paused()
    before = _tree(out.parent)
    b = _cli("run", city["v2"], "--out", out)
    assert b.returncode == 2, b.stderr
    assert BUSY in b.stderr and str(out) in b.stderr and "Traceback" not in b.stderr
    assert _tree(out.parent) == before
    ra = a.finish()
    assert ra.returncode == 0, ra.stderr
    assert _is_run(out, city, "v1")
    assert _strays(out.parent, "out") == []


def test_runs_one_after_the_other_both_succeed(city, earlier):
    """Staggered so that B starts once A has finished: no lock is left behind."""
    out = earlier
    for key in ("v1", "v2", "v1"):
        r = _cli("run", city[key], "--out", out)
        assert r.returncode == 0, r.stderr
        assert _is_run(out, city, key)
        assert _strays(out.parent, "out") == []


@pytest.mark.parametrize(("point_a", "point_b"),
                         [("mid-swap", "swap"), ("swap", "mid-swap"), ("compute", "mid-swap"),
                          ("write", "write"), ("mid-swap", "write")])
def test_kill_9_of_both_runs(city, earlier, point_a, point_b):
    """kill -9 of A and then of B at the named points: after each kill and each next
    start the folder holds a complete run (the earlier one or a new one), and a last
    run cleans up every stray."""
    out = earlier
    a = Paused(point_a, "run", city["v1"], "--out", out)
    a.wait_paused()
    assert a.finish(signal.SIGKILL).returncode == -signal.SIGKILL
    # killed between the renames, DIR is missing until the next start finishes the swap
    if point_a != "mid-swap":
        assert _is_run(out, city, "v2")
    b = Paused(point_b, "run", city["v2"], "--out", out)
    b.wait_paused()
    # B's start recovered A's swap: A's complete run if A had written it, else the earlier
    a_done = point_a == "mid-swap"
    if point_b != "mid-swap":
        assert _is_run(out, city, "v1" if a_done else "v2")
    assert b.finish(signal.SIGKILL).returncode == -signal.SIGKILL
    assert any(out.parent.glob(".out.facplan-*"))  # the kills left strays
    c = _cli("run", city["v1"], "--out", out)
    assert c.returncode == 0, c.stderr
    assert _is_run(out, city, "v1")
    assert _strays(out.parent, "out") == []


# --------------------------------------------------------------------------- symlinks


def test_symlinked_out_stays_a_link_to_the_new_run(city, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(city["folder"] / "ref_v2", runs / "r1")
    link = tmp_path / "out"
    link.symlink_to("runs/r1")
    for key in ("v1", "v2"):  # a later run into the link works too
        r = _cli("run", city[key], "--out", link)
        assert r.returncode == 0, r.stderr
        assert link.is_symlink() and os.readlink(link) == "runs/r1"
        assert _is_run(runs / "r1", city, key)
        assert _strays(tmp_path, "out") == [] and _strays(runs, "r1") == []
    assert sorted(p.name for p in runs.iterdir()) == ["r1"]


def test_dangling_symlinked_out_gets_the_run(city, tmp_path):
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "runs" / "new")
    r = _cli("run", city["v1"], "--out", link)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and _is_run(tmp_path / "runs" / "new", city, "v1")


def test_lock_is_shared_by_a_link_and_its_folder(city, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(city["folder"] / "ref_v2", runs / "r1")
    link = tmp_path / "out"
    link.symlink_to(runs / "r1")
    a = Paused("swap", "run", city["v1"], "--out", link)
    a.wait_paused()
    before = _tree(tmp_path)
    b = _cli("run", city["v2"], "--out", runs / "r1")
    assert b.returncode == 2 and BUSY in b.stderr, b.stderr
    assert _tree(tmp_path) == before
    assert a.finish().returncode == 0
    assert link.is_symlink() and _is_run(runs / "r1", city, "v1")


# --------------------------------------------------------------------------- disks


def _fsize_limit(nbytes: int):
    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, resource.RLIM_INFINITY))
    return set_limit


def test_file_size_limit_gives_one_message_and_replaces_nothing(city, earlier):
    """RLIMIT_FSIZE (64 KB) makes map.html's write fail (EFBIG) half-way."""
    out = earlier
    before = _snapshot(out)
    r = _cli("run", city["v1"], "--out", out, "--no-cache", preexec_fn=_fsize_limit(64_000))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "cannot write the outputs" in r.stderr and "nothing was replaced" in r.stderr
    assert _snapshot(out) == before
    assert _strays(out.parent, "out") == []


@pytest.fixture
def tmpfs(tmp_path):
    """A 4 MB tmpfs mounted at ``tmp_path / "disk"`` (skips where mounting is refused)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr!r}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def test_full_disk_gives_one_message_and_replaces_nothing(city, tmpfs):
    out = tmpfs / "out"
    shutil.copytree(city["folder"] / "ref_v2", out)
    before = _snapshot(out)
    st = os.statvfs(tmpfs)
    free = st.f_bavail * st.f_frsize
    with open(tmpfs / "filler", "wb") as f:  # leave 128 KB: the probe fits, map.html not
        f.write(b"\0" * (free - 128 * 1024))
    r = _cli("run", city["v1"], "--out", out, "--no-cache")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "the disk is full" in r.stderr, r.stderr
    assert _snapshot(out) == before
    assert _strays(tmpfs, "out") == []


def test_read_only_disk_is_found_before_the_computation(city, tmpfs):
    out = tmpfs / "out"
    shutil.copytree(city["folder"] / "ref_v2", out)
    before = _snapshot(out)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    run = Paused("compute", "run", city["v1"], "--out", out)
    assert not run.reached(), "the run started computing on a read-only disk"
    r = run.finish()
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "the disk is read-only" in r.stderr, r.stderr
    assert str(tmpfs) in r.stderr
    assert _snapshot(out) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_read_only_folder_is_found_before_the_computation(city, earlier):
    out = earlier
    before = _snapshot(out)
    out.parent.chmod(0o555)
    try:
        run = Paused("compute", "run", city["v1"], "--out", out)
        assert not run.reached(), "the run started computing in a read-only folder"
        r = run.finish()
    finally:
        out.parent.chmod(0o755)
    assert r.returncode == 2 and "not writable" in r.stderr, r.stderr
    assert _snapshot(out) == before


def test_disk_already_full_is_found_before_the_computation(city, tmpfs):
    out = tmpfs / "out"
    shutil.copytree(city["folder"] / "ref_v2", out)
    before = _snapshot(out)
    fd = os.open(tmpfs / "filler", os.O_WRONLY | os.O_CREAT)
    try:  # fill it to the last byte (unbuffered writes)
        for size in (1 << 16, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    run = Paused("compute", "run", city["v1"], "--out", out)
    assert not run.reached(), "the run started computing on a full disk"
    r = run.finish()
    assert r.returncode == 2 and "the disk is full" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert _snapshot(out) == before
    assert _strays(tmpfs, "out") == []
