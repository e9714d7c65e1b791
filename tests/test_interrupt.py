"""A Ctrl-C that a C library swallows still stops the run before its output is swapped in."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import ctypes, os, signal, sys
    from pathlib import Path
    from facplan._errors import catch_sigint
    from facplan.io.atomic import atomic_output_dir

    out = Path(sys.argv[1])
    with atomic_output_dir(out) as tmp:
        (tmp / "run.txt").write_text("old", encoding="utf-8")
    if sys.argv[2] == "catch":
        catch_sigint()

    @ctypes.CFUNCTYPE(None)
    def callback():
        # as numba's compiler calling back into Python: the interpreter prints the
        # KeyboardInterrupt raised in here and drops it
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100_000):
            pass

    try:
        with atomic_output_dir(out) as tmp:
            (tmp / "run.txt").write_text("new", encoding="utf-8")
            callback()
            print("went on", flush=True)
    except KeyboardInterrupt:
        print("stopped", flush=True)
        sys.exit(130)
""")


def _run(tmp_path: Path, mode: str) -> tuple[subprocess.CompletedProcess, str]:
    out = tmp_path / mode
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(out), mode],
                       capture_output=True, text=True, timeout=120)
    return r, (out / "run.txt").read_text(encoding="utf-8")


def test_swallowed_ctrl_c_keeps_the_earlier_run(tmp_path: Path) -> None:
    r, text = _run(tmp_path, "catch")
    # the interpreter dropped it in the callback ("went on") and printed nothing about it
    assert r.stdout.split() == ["went", "on", "stopped"], r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "KeyboardInterrupt" not in r.stderr, r.stderr
    assert r.returncode == 130
    assert text == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["catch"]  # no temporary left


def test_without_the_handler_the_run_would_have_been_swapped_in(tmp_path: Path) -> None:
    """The reference: Python's own handler loses this Ctrl-C, as the CI failure showed."""
    r, text = _run(tmp_path, "plain")
    assert "KeyboardInterrupt" in r.stderr
    assert "stopped" not in r.stdout and r.returncode == 0
    assert text == "new"
