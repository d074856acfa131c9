"""Whether the database refused writes moments ago: shared by admission (fail fast) and the usage writer."""

import functools
import time


class WriterState:
    """Whether the database recently refused writes: while it does, batches go straight to the spool."""

    def __init__(self) -> None:
        self.down_since: float | None = None

    def down(self) -> None:
        self.down_since = self.down_since or time.monotonic()

    def up(self) -> None:
        self.down_since = None


@functools.cache
def writer_state() -> WriterState:
    return WriterState()
