"""The benchmark's OpenFisca settlement peer agrees with the numpy one (bench/openfisca_settle_longyan.py).

openfisca-core comes with the [test] extra (and [bench]), so CI runs these.
"""
from __future__ import annotations

from bench import numpy_settle
from bench import openfisca_settle_longyan as of
from bench.settle_generate import generate_settle


def _both(records: list) -> tuple[dict, dict, dict]:
    cols = numpy_settle.columns(records)
    return cols, numpy_settle.settle(cols), of.simulate(cols)


def test_openfisca_settlement_agrees_with_numpy_on_a_seeded_population() -> None:
    cols, npres, ofres = _both(generate_settle(500, seed=3))
    report = of.agreement_with_numpy(ofres, npres, cols["claims"]["count"])
    assert report["all_fields"] == 100.0 and report["person_totals"] == 100.0, report
    assert npres["assistance"].sum() > 0 and npres["catastrophic"].sum() > 0


def test_caps_bind_and_a_late_claim_computed_first() -> None:
    """Gravely ill persons with claims up to 1,000,000元: the annual assistance cap and the
    ordinary 大病保险 cap bind; claim 5 calculated before the others gives the same totals."""
    records = generate_settle(300, seed=5, severe=1.0, cost_max=1_000_000_00)
    cols, npres, ofres = _both(records)
    coverage: dict[str, int] = {}
    numpy_settle.settle(cols, coverage)
    assert coverage["cap_binds"] > 0 and coverage["catastrophic_ordinary_cap_binds"] > 0
    assert of.agreement_with_numpy(ofres, npres, cols["claims"]["count"])["all_fields"] == 100.0
    sim = of.simulation(cols)
    last = of.CLAIM_PERIODS[-1]
    assert (sim.calculate("assistance_to_date", last) == npres["assistance"].sum(axis=1)).all()
    assert (sim.calculate("catastrophic_to_date", last) == npres["catastrophic"].sum(axis=1)).all()
