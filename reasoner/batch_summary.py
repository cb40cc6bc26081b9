"""This module holds what a batch gives back: per row a shared Summary or the row's own error.

Split from reasoner/batch.py so that the runners (reasoner/runners.py), diff and the
benchmarks can read results without importing the column and key machinery. A Summary is
what a decision says without its justification; BatchResult.explain(i) recomputes the
justification of one row on demand (Reasoner.decide), so nothing per row is kept but an
index into the distinct summaries.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .decide import Decision, Reasoner
from .person import Person, parse_person


@dataclass(frozen=True)
class ItemSummary:
    item: str
    scope: str
    status: str
    category: str | None
    value: str | None  #: as it reads, e.g. "90%", "4,300.00元"
    number: str | None  #: exact: rate as a fraction ("9/10"), amount in 分, "inf"

    @property
    def label(self) -> str:
        return f"{self.item}（{self.scope}）" if self.scope else self.item


@dataclass(frozen=True)
class Summary:
    """What a decision says, without its justification: shared by every row of a signature."""

    policy: str
    status: str
    categories: tuple[str, ...]
    groups: tuple[str, ...]
    undetermined: tuple[str, ...]
    missing: tuple[str, ...]
    items: tuple[ItemSummary, ...]
    warnings: tuple[str, ...] = ()

    @classmethod
    def of(cls, d: Decision) -> Summary:
        items = tuple(ItemSummary(it.item, it.scope, it.status, it.category, it.value, it.number) for it in d.items)
        return cls(d.policy.name, d.status, tuple(d.categories), tuple(d.groups), tuple(d.undetermined),
                   tuple(d.missing), items, tuple(d.warnings))

    def item(self, item: str, scope: str = "") -> ItemSummary:
        for it in self.items:
            if it.item == item and it.scope == scope:
                return it
        raise KeyError(f"{item}（{scope}）")


class BatchResult:
    """Per row either an error or an index into the distinct summaries; explain(i) on demand."""

    def __init__(self, reasoner: Reasoner, records: Sequence[Any], rows: np.ndarray, summaries: list[Summary],
                 errors: dict[int, Exception], stats: dict[str, Any], keys: list[tuple[Any, ...]] | None = None):
        self.reasoner = reasoner
        self.records = records
        self.rows = rows  #: int32 per row: index into summaries, -1 where the row is an error
        self.summaries = summaries
        self.errors = errors  #: row → RecordError / PolicySelectionError / ValueError
        self.stats = stats
        self.keys = keys  #: per summary, the key it was decided under: (context, AnswerKey, facts present, per-person amounts)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Summary | Exception:
        k = int(self.rows[i])
        return self.summaries[k] if k >= 0 else self.errors[i]

    def __iter__(self) -> Iterator[Summary | Exception]:
        for i in range(len(self.rows)):
            yield self[i]

    def summary(self, i: int) -> Summary | None:
        k = int(self.rows[i])
        return self.summaries[k] if k >= 0 else None

    def error(self, i: int) -> Exception | None:
        return self.errors.get(i)

    def explain(self, i: int) -> Decision:
        """The full Decision of row i (with its justification), recomputed by Reasoner.decide."""
        if i in self.errors:
            raise self.errors[i]
        return self.reasoner.decide(_person(self.records[i], i))


class BatchConsistencyError(AssertionError):
    """The fast path disagreed with the exact per-person path: a bug in this module."""


def _person(record: Any, index: int) -> Person:
    return record if isinstance(record, Person) else parse_person(record, index)



__all__ = ["BatchConsistencyError", "BatchResult", "ItemSummary", "Summary"]
