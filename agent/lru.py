"""A least-recently-used cache that concurrent turns can share.

The app answers two turns at once (``UIConfig.concurrency``), and both go through the same
responder, whose encoder and selector cache what they computed. Reads and writes take a lock;
the computing in between does not, so the turns still run in parallel.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

V = TypeVar("V")


class LruCache(Generic[V]):
    """Text -> value, at most ``size`` entries; the least recently used go first."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a cache holds at least one entry, not {size}")
        self.size = size
        self._items: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def found(self, keys: Iterable[str]) -> dict[str, V]:
        """The cached values among ``keys`` (each now the most recently used)."""
        out: dict[str, V] = {}
        with self._lock:
            for key in keys:
                if key in self._items:
                    self._items.move_to_end(key)
                    out[key] = self._items[key]
        return out

    def add(self, pairs: Iterable[tuple[str, V]]) -> None:
        """Remember ``pairs``, then drop the least recently used entries beyond ``size``."""
        with self._lock:
            for key, value in pairs:
                self._items[key] = value
                self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def values(
        self,
        keys: Sequence[str],
        compute: Callable[[list[str]], Sequence[V]],
        batch: int,
        order: Callable[[str], int] | None = None,
    ) -> list[V]:
        """The value of each key: cached, or computed ``batch`` missing keys at a time (sorted
        by ``order`` first, if given) and remembered. The answer is gathered apart from the
        cache: with a full cache, a key of this very request may be the least recently used
        one that a new key pushes out."""
        distinct = list(dict.fromkeys(keys))
        found = self.found(distinct)
        missing = [k for k in distinct if k not in found]
        if order is not None:
            missing.sort(key=order)
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            pairs = list(zip(chunk, compute(chunk), strict=True))
            found.update(pairs)
            self.add(pairs)
        return [found[k] for k in keys]
