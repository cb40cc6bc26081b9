"""Longyan settlement (大病保险 and 医疗救助, claim by claim) as an OpenFisca tax-benefit system: the peer.

The same settlement as bench/numpy_settle.py (龙政办规〔2022〕14号 二（三） and 二（四）, on the
records of bench/settle_generate.py), written the way an OpenFisca country package writes it,
with no reasoner code: it extends bench/openfisca_longyan.py's decide system (its entity,
its category and 待遇就高 variables, its parameter tree) with claim inputs, one Variable per
settlement concept, and the 大病保险 segments as OpenFisca marginal-rate scales.

Claims as periods. A person has up to five claims in a year, in date order, each settled on
the person's categories as of the claim's date and on what the year's earlier claims used up
(the cumulative self-pay, the catastrophic payments, the assistance deductible and the annual
cap). OpenFisca carries state from one period to the next, so the k-th claim of the year is
the simulation's period k (the YEAR periods 0001–0005: labels only, as openfisca_longyan's
PERIOD is; every claim's real date is an input): the decide variables computed at period k
use the claim's date, and a running total at period k is its value at period k − 1 plus this
claim's part. simulate() calculates the periods in order, so each running total reads the
previous one from the cache; the spiral guard (Simulation.max_spiral_loops, which by default
refuses a variable that needs itself at an earlier period more than one level deep and then
silently gives its default) is raised to the number of claims, so calculating period 5 first
gives the same result.

Per claim (period k), in 分:
- 大病保险 on the year's cumulative self-pay after basic insurance (before, after]: the
  ordinary scale of the records' 大病保险 field (起付线 13,000元, 60/65/70% from 13,000 /
  100,000 / 150,000元, 封顶线 400,000元 on the year's catastrophic payments), or, where the
  claim's decision gives 大病保险倾斜 (第一类/第三类, not excluded), the tilt of 二（三）
  (起付线 6,500元, 65/70/75%, no cap); the pieces' sum rounded half-up once;
- 医保后自付 = 政策范围内费用 − 基本医保支付 − 大病保险;
- 医疗救助 (住院及门诊特殊病种 share rate and cap, 二（四）2) when the claim was 按规定转诊
  (二（四）2, last sentence) and the 救助比例 is decided: (自付 − what is left of the
  annual 救助起付标准) × 比例, rounded half-up once, limited by 年度救助限额 less what was
  paid this year (二（四）3). A claim's self-pay counts towards the deductible only when the
  claim reaches it (rate decided, deductible > 0, referred) — the reading numpy_settle states.

Money is exact: OpenFisca stores int variables as int32 (enough for any amount here, in 分)
and every formula computes in int64; the scales' rates are whole percents, so a scale's
float arithmetic only ever sees integers below 2⁵³ and is exact too.

Outputs: numpy_settle.settle's (n, 5) arrays — catastrophic, self_pay, assistance, status —
so numpy_settle.agreement compares them with reasoner.settle claim by claim.

    python -m bench.openfisca_settle_longyan 10000     # times it against numpy, checks agreement with numpy and the reasoner
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from openfisca_core.periods import YEAR
from openfisca_core.simulations import SimulationBuilder
from openfisca_core.variables import Variable

from . import numpy_settle, openfisca_longyan
from .run import median_time as _median
from .numpy_longyan import DECIDED
from .settle_generate import MAX_CLAIMS, ORDINARY

Person = openfisca_longyan.Person
#: claim k (1–5, date order) ↔ the simulation's period k
CLAIM_PERIODS = [f"{k:04d}" for k in range(1, MAX_CLAIMS + 1)]
#: the settlement's numbers are the document's, one value from 2023 (the earliest year of the generated records)
IN_FORCE = "2023-01-01"
NO_CLAIM, SETTLED, NO_ASSISTANCE = 0, numpy_settle.SETTLED, numpy_settle.NO_ASSISTANCE


def _value(v: Any) -> dict[str, Any]:
    return {"values": {IN_FORCE: {"value": v}}}


def _scale(deductible_fen: int, segments: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """A marginal-rate scale on the year's cumulative self-pay: 0 below the deductible, then (from 分, rate %)."""
    brackets = [(0, 0), (max(deductible_fen, segments[0][0]), segments[0][1]), *segments[1:]]
    return {"brackets": [{"threshold": {IN_FORCE: {"value": t}}, "rate": {IN_FORCE: {"value": r}}} for t, r in brackets]}


def _ordinary() -> dict[str, Any]:
    """The ordinary 大病保险 parameters of the records' 大病保险 field (元, "60%") as a scale in 分 and %."""
    segments = [(int(s["起"]) * 100, int(s["比例"].rstrip("%"))) for s in ORDINARY["分段"]]
    return {"scale": _scale(int(ORDINARY["起付线"]) * 100, segments), "cap": _value(int(ORDINARY["封顶线"]) * 100)}


#: Added to openfisca_longyan.PARAMETERS["longyan"].
SETTLE_PARAMETERS: dict[str, Any] = {
    "catastrophic": {
        "ordinary": _ordinary(),
        # 二（三）: 起付线 6,500元, 6,500–100,000 65%, 100,000–150,000 70%, above 75%, 不设年度封顶线
        "tilt": {"scale": _scale(6_500_00, [(6_500_00, 65), (100_000_00, 70), (150_000_00, 75)])},
    },
}
PER_MILLE = 1000  #: openfisca_longyan's 救助比例 values are per mille


# ------------------------------------------------------------------ variables
def _claim(name: str, value_type: type, label: str, formula: Callable[..., np.ndarray] | None = None) -> type:
    attrs: dict[str, Any] = {"value_type": value_type, "entity": Person, "definition_period": YEAR, "label": label}
    if formula is not None:
        attrs["formula"] = formula
    return type(name, (Variable,), attrs)


def _fen(person: Any, name: str, period: Any) -> np.ndarray:
    return person(name, period).astype(np.int64)


def _first(period: Any) -> bool:
    return period.start.year == 1


def _running(name: str, part: str, label: str) -> type:
    """name at claim k = name at claim k − 1 + part at claim k (the year's total up to and including claim k)."""
    def formula(person: Any, period: Any, parameters: Any) -> np.ndarray:
        this = _fen(person, part, period)
        return this if _first(period) else _fen(person, name, period.last_year) + this
    return _claim(name, int, label, formula)


def _before(name: str, total: str, label: str) -> type:
    """The running total over the claims before this one."""
    def formula(person: Any, period: Any, parameters: Any) -> np.ndarray:
        if _first(period):
            return np.zeros(person.count, dtype=np.int64)
        return _fen(person, total, period.last_year)
    return _claim(name, int, label, formula)


def _segments(scale: Any, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Σ piece × rate% over the scale's segments of (before, after], rounded half-up once (分)."""
    pieces = np.rint(scale.calc(after.astype(np.float64)) - scale.calc(before.astype(np.float64))).astype(np.int64)
    return (pieces + 50) // 100


def _variables() -> list[type]:
    v = [
        _claim("claim_exists", bool, "the person has a k-th claim this year"),
        _claim("claim_policy_cost", int, "政策范围内费用 (分)"),
        _claim("claim_basic_paid", int, "基本医保支付 (分)"),
        _claim("claim_referred", bool, "按规定转诊"),
    ]

    def self_pay_after_basic(person: Any, period: Any, parameters: Any) -> np.ndarray:
        exists = person("claim_exists", period)
        return np.where(exists, _fen(person, "claim_policy_cost", period) - _fen(person, "claim_basic_paid", period), 0)

    v += [_claim("self_pay_after_basic", int, "基本医保后个人负担 (分): the 大病保险 base of this claim", self_pay_after_basic),
          _running("self_pay_after_basic_to_date", "self_pay_after_basic", "the year's 大病保险 base up to this claim"),
          _before("self_pay_after_basic_before", "self_pay_after_basic_to_date", "the year's 大病保险 base before this claim")]

    def tilt(person: Any, period: Any, parameters: Any) -> np.ndarray:  # 二（三）, decided as of the claim's date
        return person("大病保险倾斜_status", period) == DECIDED

    def catastrophic(person: Any, period: Any, parameters: Any) -> np.ndarray:
        p = parameters(IN_FORCE).longyan.catastrophic
        before = _fen(person, "self_pay_after_basic_before", period)
        after = _fen(person, "self_pay_after_basic_to_date", period)
        room = np.maximum(int(p.ordinary.cap) - _fen(person, "catastrophic_before", period), 0)
        ordinary = np.minimum(_segments(p.ordinary.scale, before, after), room)
        return np.where(person("catastrophic_tilt", period), _segments(p.tilt.scale, before, after), ordinary)

    v += [_claim("catastrophic_tilt", bool, "大病保险倾斜 applies to this claim", tilt),
          _claim("catastrophic", int, "大病保险支付 (分)", catastrophic),
          _running("catastrophic_to_date", "catastrophic", "the year's 大病保险 payments up to this claim"),
          _before("catastrophic_before", "catastrophic_to_date", "the year's 大病保险 payments before this claim")]

    def self_pay(person: Any, period: Any, parameters: Any) -> np.ndarray:
        return _fen(person, "self_pay_after_basic", period) - _fen(person, "catastrophic", period)

    def assisted(person: Any, period: Any, parameters: Any) -> np.ndarray:  # 二（四）2
        return (person("claim_exists", period) & person("claim_referred", period)
                & (person("救助比例_status", period) == DECIDED))

    def counts_to_deductible(person: Any, period: Any, parameters: Any) -> np.ndarray:  # 二（四）1
        return person("assisted", period) & (person("救助起付标准_value", period) > 0)

    def deductible_part(person: Any, period: Any, parameters: Any) -> np.ndarray:
        return np.where(person("counts_to_deductible", period), _fen(person, "self_pay", period), 0)

    v += [_claim("self_pay", int, "医保后自付 (分)", self_pay),
          _claim("assisted", bool, "医疗救助 applies to this claim (referred, 救助比例 decided)", assisted),
          _claim("counts_to_deductible", bool, "this claim's self-pay counts towards the annual 救助起付标准", counts_to_deductible),
          _claim("deductible_part", int, "this claim's self-pay counted towards the deductible (分)", deductible_part),
          _running("deductible_base_to_date", "deductible_part", "self-pay counted towards the deductible, up to this claim"),
          _before("deductible_base_before", "deductible_base_to_date", "self-pay counted towards the deductible before this claim")]

    def deductible_left(person: Any, period: Any, parameters: Any) -> np.ndarray:
        return np.maximum(_fen(person, "救助起付标准_value", period) - _fen(person, "deductible_base_before", period), 0)

    def assistance_base(person: Any, period: Any, parameters: Any) -> np.ndarray:
        own = _fen(person, "self_pay", period)
        return np.where(person("counts_to_deductible", period),
                        np.maximum(own - _fen(person, "deductible_left", period), 0), own)

    def assistance_uncapped(person: Any, period: Any, parameters: Any) -> np.ndarray:
        rate = _fen(person, "救助比例_value", period)
        return (_fen(person, "assistance_base", period) * rate + PER_MILLE // 2) // PER_MILLE

    def assistance(person: Any, period: Any, parameters: Any) -> np.ndarray:  # 二（四）3
        room = np.maximum(_fen(person, "年度救助限额_value", period) - _fen(person, "assistance_before", period), 0)
        return np.where(person("assisted", period), np.minimum(_fen(person, "assistance_uncapped", period), room), 0)

    def status(person: Any, period: Any, parameters: Any) -> np.ndarray:
        return np.where(person("claim_exists", period), np.where(person("assisted", period), SETTLED, NO_ASSISTANCE), NO_CLAIM)

    v += [_claim("deductible_left", int, "what is left of the annual 救助起付标准 before this claim (分)", deductible_left),
          _claim("assistance_base", int, "医保后自付 above the deductible (分)", assistance_base),
          _claim("assistance_uncapped", int, "医疗救助 before the annual cap (分)", assistance_uncapped),
          _claim("assistance", int, "医疗救助 (分)", assistance),
          _running("assistance_to_date", "assistance", "the year's 医疗救助 up to this claim"),
          _before("assistance_before", "assistance_to_date", "the year's 医疗救助 before this claim"),
          _claim("claim_status", int, "已结算 1 / 不予救助 2 (numpy_settle's codes), 0 no claim", status)]
    return v


class LongyanSettleSystem(openfisca_longyan.LongyanSystem):
    """openfisca_longyan's decide system, its parameter tree extended, and the settlement variables."""

    def __init__(self) -> None:
        super().__init__()
        from openfisca_core.parameters import ParameterNode

        data = {"longyan": {**openfisca_longyan.PARAMETERS["longyan"], **SETTLE_PARAMETERS}}
        self.parameters = ParameterNode("", data=data)
        for variable in _variables():
            self.add_variable(variable)


_SYSTEM: LongyanSettleSystem | None = None


def system() -> LongyanSettleSystem:
    global _SYSTEM
    if _SYSTEM is None:
        _SYSTEM = LongyanSettleSystem()
    return _SYSTEM


# ------------------------------------------------------------------ running it
PERSON_INPUTS = ("oop", "income", "property", "insured_before", "not_paid")
OUTPUTS = {"catastrophic": "catastrophic", "self_pay": "self_pay", "assistance": "assistance", "status": "claim_status"}


def simulation(cols: dict[str, Any]) -> Any:
    """A simulation with numpy_settle.columns(...) as its inputs: claim k's at period CLAIM_PERIODS[k]."""
    person, claims = cols["person"], cols["claims"]
    n = len(claims["count"])
    sim = SimulationBuilder().build_default_simulation(system(), count=n)
    sim.max_spiral_loops = MAX_CLAIMS + 1  # running totals over the year's claims (see the module's docstring)
    # the person's own facts are the same at every claim (cast once, shared by the five periods)
    same = {name: person[name] for name in PERSON_INPUTS}
    for s in range(openfisca_longyan.SLOTS):
        same |= {f"ident_{s}": person["ident"][:, s].astype(np.int64), f"dept_ok_{s}": person["dept_ok"][:, s],
                 f"recog_{s}": person["recog"][:, s], f"recog_ym_{s}": person["recog_ym"][:, s],
                 f"ended_{s}": person["ended"][:, s]}
    for k, period in enumerate(CLAIM_PERIODS):
        for name, values in same.items():
            sim.set_input(name, period, values)
        # the decision of claim k is taken as of the claim's date
        sim.set_input("date", period, claims["date"][:, k])
        sim.set_input("ym", period, claims["ym"][:, k])
        sim.set_input("year", period, claims["year"][:, k])
        sim.set_input("claim_exists", period, claims["count"] > k)
        sim.set_input("claim_policy_cost", period, claims["cost"][:, k])
        sim.set_input("claim_basic_paid", period, claims["basic"][:, k])
        sim.set_input("claim_referred", period, claims["referred"][:, k])
    return sim


def simulate(cols: dict[str, Any]) -> dict[str, np.ndarray]:
    """numpy_settle.columns(...) in; numpy_settle.settle's (n, 5) arrays out (分, status codes)."""
    n = len(cols["claims"]["count"])
    sim = simulation(cols)
    out = {key: np.zeros((n, MAX_CLAIMS), dtype=np.int64) for key in OUTPUTS}
    for k, period in enumerate(CLAIM_PERIODS):  # in claim order: each running total reads the previous claim's
        for key, variable in OUTPUTS.items():
            out[key][:, k] = sim.calculate(variable, period)
    out["status"] = out["status"].astype(np.int8)
    return out


# ------------------------------------------------------------------ agreement
def agreement_with_numpy(ofres: dict[str, np.ndarray], npres: dict[str, np.ndarray], count: np.ndarray) -> dict[str, Any]:
    """Claim by claim (every field) and person by person (医疗救助 and 大病保险 year totals), in percent."""
    active = np.arange(MAX_CLAIMS)[None, :] < np.asarray(count)[:, None]
    report: dict[str, Any] = {"claims": int(active.sum()), "persons": len(count)}
    everything = np.ones_like(active)
    for key in numpy_settle.FIELDS:
        ok = ofres[key] == npres[key]
        report[key] = round(100.0 * float(ok[active].mean()), 4) if active.any() else 100.0
        everything &= ok
    report["all_fields"] = round(100.0 * float(everything[active].mean()), 4) if active.any() else 100.0
    totals = ((ofres["assistance"].sum(axis=1) == npres["assistance"].sum(axis=1))
              & (ofres["catastrophic"].sum(axis=1) == npres["catastrophic"].sum(axis=1)))
    report["person_totals"] = round(100.0 * float(totals.mean()), 4) if len(totals) else 100.0
    bad_i, bad_k = np.nonzero(~everything & active)
    report["disagreeing_claims"] = len(bad_i)
    report["examples"] = [{"row": int(i), "claim": f"c{k + 1}", **{f"{key}_openfisca": int(ofres[key][i, k]) for key in numpy_settle.FIELDS},
                           **{f"{key}_numpy": int(npres[key][i, k]) for key in numpy_settle.FIELDS}}
                          for i, k in list(zip(bad_i.tolist(), bad_k.tolist()))[:5]]
    return report


def agreement_with_reasoner(settlements: Sequence[Sequence[Any]], records: Sequence[dict[str, Any]],
                            ofres: dict[str, np.ndarray]) -> dict[str, Any]:
    """reasoner.settle's results against OpenFisca's, claim by claim (numpy_settle.agreement, relabelled)."""
    report = numpy_settle.agreement(settlements, records, ofres)
    report["examples"] = [{k.replace("_numpy", "_openfisca"): v for k, v in e.items()} for e in report["examples"]]
    report["total_assistance_fen"] = {"reasoner": report["total_assistance_fen"]["reasoner"],
                                      "openfisca": report["total_assistance_fen"]["numpy"]}
    return report


def main(argv: list[str] | None = None) -> int:
    from .settle_generate import generate_settle

    ap = argparse.ArgumentParser(description="Time the OpenFisca Longyan settlement against numpy; check agreement.")
    ap.add_argument("n", type=int, nargs="?", default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each peer (median)")
    ap.add_argument("--no-reasoner", action="store_true", help="skip reasoner.settle (≈ 1 ms per person)")
    args = ap.parse_args(argv)
    records = generate_settle(args.n, args.seed)
    t0 = time.perf_counter()
    cols = numpy_settle.columns(records)
    t_cols = time.perf_counter() - t0
    t0 = time.perf_counter()
    system()
    t_system = time.perf_counter() - t0
    t_np, npres = _median(lambda: numpy_settle.settle(cols), args.runs)
    t_of, ofres = _median(lambda: simulate(cols), args.runs)
    print(f"{args.n} persons, {int(cols['claims']['count'].sum())} claims; columns from the record dicts {1000 * t_cols:.1f} ms "
          f"(shared by both peers), OpenFisca system built in {1000 * t_system:.1f} ms (once)")
    print(f"numpy_settle {1000 * t_np:.1f} ms, OpenFisca {1000 * t_of:.1f} ms (median of {args.runs}): "
          f"OpenFisca / numpy ×{t_of / t_np:.1f}")
    print("OpenFisca vs numpy:", agreement_with_numpy(ofres, npres, cols["claims"]["count"]))
    if not args.no_reasoner:
        from reasoner import load_policies
        from reasoner.settle import settle as reasoner_settle

        reasoner = load_policies()
        t0 = time.perf_counter()
        results = [reasoner_settle(reasoner, r) for r in records]
        print(f"reasoner.settle: {time.perf_counter() - t0:.1f} s")
        print("reasoner vs numpy:", numpy_settle.agreement(results, records, npres))
        print("reasoner vs OpenFisca:", agreement_with_reasoner(results, records, ofres))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
