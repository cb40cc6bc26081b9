"""Longyan's categories and per-item 待遇就高 as an OpenFisca tax-benefit system: the peer a user would pick.

The same rules as bench/numpy_longyan.py (龙政办规〔2022〕14号 二（一）1, 二（一）2, 二（二）), written
the way an OpenFisca country package writes them: one entity (person), input variables for
the record's columns, one Variable class per intermediate concept with a vectorised formula,
and the policy's numbers in an OpenFisca parameter tree (the rates, the deductible shares,
and the three per-year 假设参数, keyed by the year they apply from). Dates are per person
(every record has its own decision date), so they are input variables rather than the
simulation's period (see PERIOD).

Outputs (same keys and codes as numpy_longyan.decide, so numpy_longyan.agreement compares
it with the reasoner row by row): members (n×5), eligible, and per item status / category /
value. Like numpy, it has no validation and no explanation.

    python -m bench.openfisca_longyan 100000     # times it, checks agreement with numpy and the reasoner
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from openfisca_core.entities import build_entity
from openfisca_core.parameters import ParameterNode
from openfisca_core.periods import YEAR
from openfisca_core.simulations import SimulationBuilder
from openfisca_core.taxbenefitsystems import TaxBenefitSystem
from openfisca_core.variables import Variable

from . import numpy_longyan
from .generate import ASSUMED, IDENTITIES

#: The simulation's period. The rules are decided per person as of the person's own date (an
#: input), so the period only names the computation: OpenFisca 46 cannot run formulas of
#: ETERNITY variables (Variable.get_formula dates the eternal period), hence YEAR.
PERIOD = "2024"
Person = build_entity(key="person", plural="persons", label="救助对象", is_person=True)
NAMES = list(IDENTITIES)
SLOTS = numpy_longyan.SLOTS

#: The policy's numbers as an OpenFisca parameter tree (what a country package keeps in YAML).
PARAMETERS: dict[str, Any] = {
    "longyan": {
        "subsidy": {"cat1": {"values": {"2023-01-01": {"value": 1000}}}, "cat2": {"values": {"2023-01-01": {"value": 1000}}},
                    "cat3": {"values": {"2023-01-01": {"value": 900}}}},
        "rate": {f"cat{k}": {"values": {"2023-01-01": {"value": v}}} for k, v in zip(range(1, 6), (900, 700, 700, 600, 500))},
        "deductible_share": {"cat4": {"values": {"2023-01-01": {"value": 10}}}, "cat5": {"values": {"2023-01-01": {"value": 25}}}},
        "income": {"values": {f"{y}-01-01": {"value": v["上年度居民人均可支配收入"] * 100} for y, v in ASSUMED.items()}},
        "edge": {"values": {f"{y}-01-01": {"value": v["最低生活保障边缘家庭标准"] * 100} for y, v in ASSUMED.items()}},
        "cap": {"values": {f"{y}-01-01": {"value": v["年度救助限额"] * 100} for y, v in ASSUMED.items()}},
    }
}


def _input(name: str, value_type: type, default: Any = 0) -> type:
    return type(name, (Variable,), {"value_type": value_type, "entity": Person, "definition_period": YEAR,
                                    "default_value": default, "label": name})


def _formula(name: str, value_type: type, fn: Any) -> type:
    return type(name, (Variable,), {"value_type": value_type, "entity": Person, "definition_period": YEAR,
                                    "label": name, "formula": fn})


def _yearly(parameters: Any, name: str, year: np.ndarray) -> np.ndarray:
    """A per-year parameter at each person's decision year (OpenFisca parameters are by instant)."""
    out = np.zeros(len(year), dtype=np.int64)
    for y in ASSUMED:
        out = np.where(year == y, int(getattr(parameters(f"{y}-01-01").longyan, name)), out)
    return out


# ------------------------------------------------------------------ variables
def _variables() -> list[type]:
    v: list[type] = [_input("date", int), _input("ym", int), _input("year", int), _input("oop", int),
                     _input("income", int), _input("property", bool, False), _input("insured_before", bool, False),
                     _input("not_paid", bool, False)]
    for s in range(SLOTS):
        v += [_input(f"ident_{s}", int, -1), _input(f"dept_ok_{s}", bool, False), _input(f"recog_{s}", int),
              _input(f"recog_ym_{s}", int), _input(f"ended_{s}", int, numpy_longyan.NEVER)]
    category_of = np.array([numpy_longyan.IDENTITY_CATEGORY[n] for n in NAMES] + [0], dtype=np.int8)

    def identity_category(s: int) -> Any:
        def formula(person: Any, period: Any, parameters: Any) -> np.ndarray:  # 二（一）2, 二（二）
            ident = person(f"ident_{s}", period)
            date = person("date", period)
            holds = ((ident >= 0) & person(f"dept_ok_{s}", period) & (person(f"recog_{s}", period) <= date)
                     & (person(f"recog_ym_{s}", period) < person("ym", period)) & (person(f"ended_{s}", period) > date))
            return np.where(holds, category_of[ident], 0)
        return formula

    v += [_formula(f"held_category_{s}", int, identity_category(s)) for s in range(SLOTS)]

    def member(k: int) -> Any:
        def formula(person: Any, period: Any, parameters: Any) -> np.ndarray:  # 二（一）1
            return np.logical_or.reduce([person(f"held_category_{s}", period) == k for s in range(SLOTS)])
        return formula

    v += [_formula(f"member_{k}", bool, member(k)) for k in (1, 2, 3, 4)]

    def member_5(person: Any, period: Any, parameters: Any) -> np.ndarray:
        year = person("year", period)
        others = person("member_1", period) | person("member_2", period) | person("member_3", period) | person("member_4", period)
        return (~others & (person("oop", period) >= _yearly(parameters, "income", year))
                & (person("income", period) < _yearly(parameters, "edge", year)) & person("property", period))

    def gone(person: Any, period: Any, parameters: Any) -> np.ndarray:  # 二（二）: gives up the year's benefits
        return person("not_paid", period) & person("member_3", period) & ~person("member_1", period) & ~person("member_2", period)

    v += [_formula("member_5", bool, member_5), _formula("gone", bool, gone)]
    v += [_formula("eligible", bool, lambda person, period, parameters: np.logical_or.reduce(
        [person(f"member_{k}", period) for k in range(1, 6)]))]
    for item, spec in ITEM_SPECS.items():
        v += _item_variables(item, *spec)
    return v


def _offers(item: str, person: Any, period: Any, parameters: Any) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """(offered, usable, value, category) per category that offers the item, in category order."""
    p = parameters("2023-01-01").longyan
    gone = person("gone", period)
    m = {k: person(f"member_{k}", period) for k in range(1, 6)}
    n = len(gone)
    const = lambda x: np.full(n, int(x), dtype=np.int64)  # noqa: E731
    if item == "参保资助":
        blocked = gone | person("insured_before", period)
        return [(m[k], m[k] & ~blocked, const(getattr(p.subsidy, f"cat{k}")), k) for k in (1, 2, 3)]
    if item == "大病保险倾斜":
        return [(m[k], m[k] & ~gone, const(1), k) for k in (1, 3)]
    if item == "救助起付标准":
        income = _yearly(parameters, "income", person("year", period))
        share = {4: int(p.deductible_share.cat4), 5: int(p.deductible_share.cat5)}
        values = {k: const(0) for k in (1, 2, 3)} | {k: (income * share[k] + 50) // 100 for k in (4, 5)}
        return [(m[k], m[k] & ~gone, values[k], k) for k in range(1, 6)]
    if item == "救助比例":
        return [(m[k], m[k] & ~gone, const(getattr(p.rate, f"cat{k}")), k) for k in range(1, 6)]
    cap = _yearly(parameters, "cap", person("year", period))
    return [(m[k], m[k] & ~gone, cap, k) for k in range(1, 6)]


#: item → higher is better (待遇就高: the best value among usable categories, ties to the first)
ITEM_SPECS = {"参保资助": (True,), "大病保险倾斜": (True,), "救助起付标准": (False,), "救助比例": (True,), "年度救助限额": (True,)}


def _item_variables(item: str, higher: bool) -> list[type]:
    def best(person: Any, period: Any, parameters: Any) -> np.ndarray:
        offers = _offers(item, person, period, parameters)
        out = np.full(len(offers[0][1]), -1 if higher else np.iinfo(np.int64).max, dtype=np.int64)
        for _, usable, value, _ in offers:
            out = np.where(usable & ((value > out) if higher else (value < out)), value, out)
        return out

    def category(person: Any, period: Any, parameters: Any) -> np.ndarray:
        offers = _offers(item, person, period, parameters)
        b = person(f"{item}_best", period)
        out = np.zeros(len(b), dtype=np.int64)
        for _, usable, value, k in reversed(offers):
            out = np.where(usable & (value == b), k, out)
        return out

    def status(person: Any, period: Any, parameters: Any) -> np.ndarray:
        offers = _offers(item, person, period, parameters)
        blocked = np.logical_or.reduce([offered & ~usable for offered, usable, _, _ in offers])
        decided = person(f"{item}_category", period) > 0
        return np.where(decided, numpy_longyan.DECIDED, np.where(blocked, numpy_longyan.EXCLUDED, numpy_longyan.NOT_APPLICABLE))

    def value(person: Any, period: Any, parameters: Any) -> np.ndarray:
        return np.where(person(f"{item}_category", period) > 0, person(f"{item}_best", period), 0)

    return [_formula(f"{item}_best", int, best), _formula(f"{item}_category", int, category),
            _formula(f"{item}_status", int, status), _formula(f"{item}_value", int, value)]


class LongyanSystem(TaxBenefitSystem):
    def __init__(self) -> None:
        super().__init__([Person])
        self.parameters = ParameterNode("", data=PARAMETERS)
        for variable in _variables():
            self.add_variable(variable)


_SYSTEM: LongyanSystem | None = None


def system() -> LongyanSystem:
    global _SYSTEM
    if _SYSTEM is None:
        _SYSTEM = LongyanSystem()
    return _SYSTEM


# ------------------------------------------------------------------ running it
def simulate(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Feed numpy_longyan.columns(...) into a simulation; outputs as numpy_longyan.decide's."""
    n = len(c["date"])
    sim = SimulationBuilder().build_default_simulation(system(), count=n)
    for name in ("date", "ym", "year", "oop", "income", "property", "insured_before", "not_paid"):
        sim.set_input(name, PERIOD, c[name])
    for s in range(SLOTS):
        sim.set_input(f"ident_{s}", PERIOD, c["ident"][:, s].astype(np.int64))
        sim.set_input(f"dept_ok_{s}", PERIOD, c["dept_ok"][:, s])
        sim.set_input(f"recog_{s}", PERIOD, c["recog"][:, s])
        sim.set_input(f"recog_ym_{s}", PERIOD, c["recog_ym"][:, s])
        sim.set_input(f"ended_{s}", PERIOD, c["ended"][:, s])
    out: dict[str, np.ndarray] = {
        "members": np.stack([sim.calculate(f"member_{k}", PERIOD) for k in range(1, 6)], axis=1),
        "eligible": sim.calculate("eligible", PERIOD)}
    for item in ITEM_SPECS:
        out[item + ".status"] = sim.calculate(f"{item}_status", PERIOD).astype(np.int8)
        out[item + ".category"] = sim.calculate(f"{item}_category", PERIOD).astype(np.int8)
        out[item + ".value"] = sim.calculate(f"{item}_value", PERIOD).astype(np.int64)
    return out


def agreement_with_numpy(a: dict[str, np.ndarray], b: dict[str, np.ndarray], valid: np.ndarray) -> float:
    """Percent of readable rows where OpenFisca and numpy agree on every output."""
    same = np.ones(int(valid.sum()), dtype=bool)
    for key in b:
        x, y = a[key][valid], b[key][valid]
        same &= (x == y).reshape(len(same), -1).all(axis=1)
    return round(100.0 * float(same.mean()), 4) if len(same) else 100.0


def main(argv: list[str] | None = None) -> int:
    from reasoner import load_policies
    from reasoner.batch import decide_batch

    from .generate import generate

    ap = argparse.ArgumentParser(description="Time the OpenFisca Longyan rules and check agreement.")
    ap.add_argument("n", type=int, nargs="?", default=100000)
    args = ap.parse_args(argv)
    records = generate(args.n, 1)
    cols = numpy_longyan.columns(records)
    system()
    t0 = time.perf_counter()
    res = simulate(cols)
    t1 = time.perf_counter()
    print(f"OpenFisca: {1000 * (t1 - t0):.1f} ms for {args.n} persons")
    print("agreement with numpy:", agreement_with_numpy(res, numpy_longyan.decide(cols), cols["valid"]), "%")
    print("agreement with the reasoner:", numpy_longyan.agreement(decide_batch(load_policies(), records), records, cols, res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
