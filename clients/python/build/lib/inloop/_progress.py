"""A progress bar in a dozen lines (no dependency): `done/total`, a bar, the rate, on stderr."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, total: int | None, *, label: str = "", stream: TextIO | None = None):
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.done = 0
        # A terminal gets one line redrawn in place; a log file gets a line per update.
        self.inline = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = f"{done / elapsed:.1f}/s"
        if self.total:
            filled = int(30 * min(done, self.total) / self.total)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"{self.label}[{bar}] {done}/{self.total} {rate}"
        else:
            text = f"{self.label}{done} {rate}"
        if self.inline:
            self.stream.write("\r" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.inline:
            self.stream.write("\n")
            self.stream.flush()
