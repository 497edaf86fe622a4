"""One apply at a time: an exclusive, non-blocking `flock` on a file in the state directory.

The kernel releases the lock when its holder exits, however it exits (kill -9 included), so a
crashed apply never leaves a stale lock behind. The file holds who has it, for the message the
second apply prints. (Across CI runners, the workflow's `concurrency:` group does the same job.)
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from reconciler.errors import RefusedError

LOCK_FILE = "apply.lock"


@contextmanager
def apply_lock(directory: Path) -> Iterator[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RefusedError(
                f"another `access apply` is running ({_holder(fd)}); two applies must not interleave. "
                f"Wait for it to finish (the lock is {path}, released when that process exits)"
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {data['pid']} on {data['host']}, since {data['since']}"
    except (ValueError, KeyError, TypeError, OSError):
        return "holder unknown"
