"""On CI a skipped test fails the run (tests/conftest.py); elsewhere it stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("ci", "expected"), [("true", 1), ("", 0)])
def test_a_skip_fails_the_run_only_on_ci(tmp_path: Path, ci: str, expected: int) -> None:
    probe = ROOT / "tests" / f"test_zz_probe_{os.getpid()}_{ci or 'local'}.py"
    probe.write_text("import pytest\n\ndef test_probe():\n    pytest.skip('no database')\n")
    try:
        env = {**os.environ, "CI": ci}
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        probe.unlink()
    assert run.returncode == expected, run.stdout + run.stderr
    assert "1 skipped" in run.stdout
