import os

import pytest

from facplan import InputError
from facplan.io.atomic import MARKER, atomic_output_dir, recover


def _files(d):
    return {p.name: p.read_text() for p in sorted(d.iterdir())}


def test_success_replaces_earlier_run(tmp_path):
    out = tmp_path / "run"
    with atomic_output_dir(out) as tmp:
        (tmp / "a.txt").write_text("one")
    with atomic_output_dir(out) as tmp:
        (tmp / "b.txt").write_text("two")
    assert _files(out) == {MARKER: "complete\n", "b.txt": "two"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_failure_keeps_earlier_run_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    with atomic_output_dir(out) as tmp:
        (tmp / "a.txt").write_text("one")
    before = _files(out)
    with pytest.raises(RuntimeError), atomic_output_dir(out) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("boom")
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_failure_without_earlier_run_creates_nothing(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(RuntimeError), atomic_output_dir(out):
        raise RuntimeError("boom")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_refuses_foreign_folder(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    with pytest.raises(InputError, match="--force"), atomic_output_dir(out):
        pass
    assert (out / "thesis.docx").read_text() == "precious"


def test_recover_after_crash_between_renames(tmp_path):
    out = tmp_path / "run"
    with atomic_output_dir(out) as tmp:
        (tmp / "a.txt").write_text("old")
    # simulate a kill after the first rename: old moved aside, new complete, no DIR
    new = tmp_path / ".run.facplan-tmp"
    new.mkdir()
    (new / "a.txt").write_text("new")
    (new / MARKER).write_text("complete\n")
    os.replace(out, tmp_path / ".run.facplan-old")
    recover(out)
    assert (out / "a.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_recover_restores_old_when_new_incomplete(tmp_path):
    out = tmp_path / "run"
    old = tmp_path / ".run.facplan-old"
    old.mkdir()
    (old / "a.txt").write_text("old")
    (old / MARKER).write_text("complete\n")
    half = tmp_path / ".run.facplan-tmp"
    half.mkdir()
    (half / "a.txt").write_text("half")
    recover(out)
    assert (out / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_lock_refuses_a_second_writer_and_reenters_in_one_thread(tmp_path):
    import threading

    from facplan.io.atomic import output_lock

    out = tmp_path / "run"
    errors = []

    def other_writer():
        try:
            with atomic_output_dir(out):
                pass
        except InputError as exc:
            errors.append(str(exc))

    with output_lock(out):
        with atomic_output_dir(out) as tmp:  # the same run re-enters its own lock
            (tmp / "a.txt").write_text("one")
            t = threading.Thread(target=other_writer)
            t.start()
            t.join()
    assert len(errors) == 1 and "another facplan run is writing" in errors[0]
    assert _files(out) == {MARKER: "complete\n", "a.txt": "one"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # lock file gone
