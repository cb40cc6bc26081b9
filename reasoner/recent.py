"""This module holds Recent, the bounded most-recently-used mapping every long-lived cache uses.

A service meets callers' 假设参数 without end and a batch worker meets signatures without end:
each cache of the engine (date contexts, groundings, decided cores, answer sets) keeps only
what was used last, so a long-running process stays within a fixed memory.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Recent(OrderedDict[K, V], Generic[K, V]):
    """A mapping that keeps only the `size` most recently used entries.

    A service meets callers' 假设参数 without end: each distinct set is a date context, and
    keeping every one would grow a long-running process without bound.
    """

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get_recent(self, key: K) -> V | None:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> V:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
        return value


__all__ = ["Recent"]
