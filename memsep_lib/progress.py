"""Progress bars for long work: ``tqdm`` when asked for, silent otherwise.

Every long-running function takes a ``progress`` flag and passes it down; nothing below the CLI
decides from the profile whether to show a bar.
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["progress_bar"]


def progress_bar(iterable: Iterable | None = None, *, enabled: bool, desc: str | None = None, **kwargs):
    """A ``tqdm`` bar over ``iterable`` (or a manual one with ``total=``), disabled unless ``enabled``."""
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc, disable=not enabled, **kwargs)
