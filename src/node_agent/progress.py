"""A progress display for long benchmark runs (only on a terminal)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from .runner import Progress as ProgressCallback


@contextmanager
def progress_display(console: Console) -> Iterator[ProgressCallback]:
    """Yield a runner progress callback that draws one bar per benchmark on ``console``."""
    bars: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as display:

        def update(name: str, done: int, total: int) -> None:
            if name not in bars:
                bars[name] = display.add_task(escape(name), total=total)
            display.update(bars[name], completed=done)

        yield update
