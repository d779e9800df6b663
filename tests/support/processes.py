"""Child processes for the tests, read line by line as they write.

:class:`Output` collects what a child writes on one pipe, in a thread, and waits on it with a
deadline. :func:`spawn` runs a command with such readers and, however the block exits, kills
the process if it still runs, reaps it and closes its pipes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

__all__ = ["Output", "spawn"]


class Output:
    """Lines a child process writes, collected by a thread, with bounded waits on them."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self.closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[str]], Any], timeout: float) -> Any:
        """The first truthy ``predicate(lines)`` within ``timeout`` s, else ``None``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = predicate(self.lines)
                if found or self.closed:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)

    @property
    def text(self) -> str:
        with self._changed:
            return "\n".join(self.lines)


@contextlib.contextmanager
def spawn(
    command: Sequence[str],
    *,
    cwd: os.PathLike[str] | str,
    env: Mapping[str, str],
    stdin: int,
    merge_stderr: bool,
) -> Iterator[tuple[subprocess.Popen[str], Output, Output | None]]:
    """Run ``command`` with its output read as it comes; stderr on stdout if ``merge_stderr``.

    When the block exits the process is killed if still running and reaped, and the readers
    are joined.
    """
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as process:
        assert process.stdout is not None
        stdout = Output(process.stdout)
        stderr = None if process.stderr is None else Output(process.stderr)
        try:
            yield process, stdout, stderr
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)
            stdout.join()
            if stderr is not None:
                stderr.join()
