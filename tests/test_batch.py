"""The batch path (reasoner.batch.decide_batch) must give every row exactly what
Reasoner.decide gives it — the same status, categories and items, and the same error in
the same place for a bad row. bench.check_batch compares every row of the case-file
inputs, a generated population with malformed records mixed in, and hand-made odd values."""
from __future__ import annotations

from bench import check_batch
from bench.generate import generate
from reasoner import PolicySet, Reasoner
from reasoner.batch import decide_batch


def test_batch_agrees_with_decide_row_by_row() -> None:
    assert check_batch.main(["-n", "500"]) == 0


def test_every_input_row_is_accounted_for_in_order() -> None:
    reasoner = Reasoner(PolicySet.load())
    records = generate(300, seed=11)
    records.insert(5, {"地区": "龙岩市"})  # no date: a bad row in place
    result = decide_batch(reasoner, records)
    assert len(result) == len(records)
    assert result.error(5) is not None and "日期" in str(result.error(5))
    assert all((result.summary(i) is None) != (result.error(i) is None) for i in range(len(records)))
