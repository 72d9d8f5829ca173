"""Every lesson runs from a fresh process, asserts its own claims, and finishes in under 30 s."""
import pathlib
import subprocess
import sys
import time

import pytest

LESSONS = sorted((pathlib.Path(__file__).parent.parent / "lessons").glob("[0-9][0-9]_*.py"))


def test_the_three_lessons_exist():
    assert [p.name for p in LESSONS][:3] == ["01_autograd.py", "02_residual_block.py", "03_temporal_skip.py"]


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.name)
def test_lesson_runs(lesson, tmp_path):
    start = time.monotonic()
    result = subprocess.run([sys.executable, str(lesson), *(["--out", str(tmp_path)] if "03" in lesson.name else [])],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Eq." in result.stdout or "gradient" in result.stdout
    assert elapsed < 30, f"{lesson.name} took {elapsed:.1f} s"
    if "03" in lesson.name:
        assert (tmp_path / "fig3_unrolled.dot").read_text().count("temporal skip") == 4
