"""Node.js for the end-to-end tests: where the pinned npm packages live, and the ``node`` to
run their scenarios with (a missing one fails the test, never skips it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

__all__ = ["NODE_DIR", "NODE_TIMEOUT", "node_executable"]

NODE_DIR = Path(__file__).with_name("node")
NODE_TIMEOUT = 45.0  # seconds; every wait inside a scenario is bounded well below this


def node_executable() -> str:
    """The ``node`` on ``PATH``, with pusher-js and friends installed in ``NODE_DIR``."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (>= 18) is required for the end-to-end tests", pytrace=False)
    if not (NODE_DIR / "node_modules" / "pusher-js").is_dir():
        pytest.fail(
            f"Node packages missing in {NODE_DIR}: run `bash scripts/bootstrap.sh --with-node`",
            pytrace=False,
        )
    return node
