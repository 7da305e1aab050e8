"""The kernel a notebook runs in under `higgsml run`: its standard error is passed on to ours while the notebook runs
and dropped from the moment the user presses Ctrl-C, so that an interrupted run ends with `higgsml: interrupted`
alone rather than the kernel's traceback about the connection closed under it."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

SHUTDOWN_NOISE = "KeyboardInterrupt caught in kernel"
"""What the kernel writes when it is interrupted while being shut down after a failed cell: not the user's concern
(the failing cell is reported on its own)."""


class StderrRelay:
    """A pipe the kernel writes its standard error into, copied to `stream` by a thread until `quiet` is set."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.read_fd, self.write_fd = os.pipe()
        self.quiet = threading.Event()
        self._thread = threading.Thread(target=self._copy, daemon=True)

    def _copy(self) -> None:
        with os.fdopen(self.read_fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                text = "".join(line for line in chunk.decode(errors="replace").splitlines(keepends=True)
                               if SHUTDOWN_NOISE not in line)
                if text and not self.quiet.is_set():
                    self.stream.write(text)
                    self.stream.flush()

    def __enter__(self) -> StderrRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.write_fd)  # the kernel has its own copy; the pipe ends when the kernel does
        self._thread.join(timeout=5)


def kernel_manager_class(relay: StderrRelay) -> type:
    """jupyter_client's kernel manager, starting the kernel with its standard error going into `relay`."""
    from jupyter_client.manager import AsyncKernelManager

    class RelayedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            kw.setdefault("stderr", relay.write_fd)
            await super().start_kernel(**kw)

    return RelayedKernelManager


@contextmanager
def quiet_on_interrupt(relay: StderrRelay) -> Iterator[None]:
    """Within the block, Ctrl-C (SIGINT) first silences the kernel's standard error, then interrupts as usual."""
    def interrupted(signum: int, frame: Any) -> None:
        relay.quiet.set()
        signal.default_int_handler(signum, frame)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
