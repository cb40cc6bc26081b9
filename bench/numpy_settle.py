"""A plain vectorised numpy settlement of Longyan claims: the lower bound for reasoner.settle.

The same payouts as reasoner.settle.settle for the records of bench/settle_generate.py,
written by hand as column arithmetic, with no validation and no explanation:

1. per claim slot k = 0..4 (claims in date order), the person's categories and per-item
   待遇就高 as of the claim's date: bench/numpy_longyan.decide on the person columns with the
   decision date replaced by the claim's date (identities recognised in the claim's month
   are not yet in effect, 二（二）; ended ones no longer hold; 第五类 from the facts);
2. then, for all persons at once, slot after slot, carrying per-person year state
   (cumulative self-pay after basic insurance, catastrophic paid, self-pay counted towards
   the assistance deductible, assistance paid):
   - 大病保险 on the year's cumulative self-pay (before, after]: the ordinary parameters
     (settle_generate.ORDINARY_FEN: 起付线 13,000, 60/65/70% at 10万/15万, 封顶线 40万 on the
     year's catastrophic payments), or — where the claim's decision gives 大病保险倾斜
     (第一类/第三类, not excluded) — the tilt of 二（三）: 起付线 6,500, 65/70/75%, no cap;
     Σ piece × rate rounded half-up once;
   - 医保后自付 = 政策范围内费用 − 基本医保支付 − 大病保险;
   - 医疗救助 (项目 住院及门诊特殊病种, both claim kinds) when the claim was 按规定转诊 and the
     救助比例 is decided: (自付 − what is left of the annual 救助起付标准) × 比例, rounded
     half-up once, limited by 年度救助限额 less what was paid this year. The deductible
     counts a claim's self-pay only when the claim reaches it (rate decided, deductible
     > 0, referred) — the reading reasoner/settle.py implements (Settler._deductible).

Money is exact int64 分; rates are integers (percent for the catastrophic segments, per
mille for the assistance rate), so x × r / 100 rounded half-up is (x·r + 50) // 100 — the
same as reasoner.numeric.round_fen on a non-negative exact fraction.

    python -m bench.numpy_settle 10000     # times it and checks agreement with reasoner.settle
"""
from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import numpy_longyan
from .settle_generate import KINDS, MAX_CLAIMS, ORDINARY_FEN, REFERRED, TILT_FEN

DECIDED = numpy_longyan.DECIDED
#: claim status codes (reasoner.settle: 已结算 / 不予救助 / 无法结算)
SETTLED, NO_ASSISTANCE, UNDECIDED = 1, 2, 3
STATUS_CODE = {"已结算": SETTLED, "不予救助": NO_ASSISTANCE, "无法结算": UNDECIDED}


# ------------------------------------------------------------------ columns
def claim_columns(records: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """(n, 5) claim arrays from raw records, in the records' claim order (date order)."""
    n = len(records)
    count = np.zeros(n, dtype=np.int8)
    date = np.zeros((n, MAX_CLAIMS), dtype=np.int32)
    ym = np.zeros((n, MAX_CLAIMS), dtype=np.int32)
    year = np.zeros((n, MAX_CLAIMS), dtype=np.int16)
    kind = np.zeros((n, MAX_CLAIMS), dtype=np.int8)
    cost = np.zeros((n, MAX_CLAIMS), dtype=np.float64)
    basic = np.zeros((n, MAX_CLAIMS), dtype=np.float64)
    referred = np.zeros((n, MAX_CLAIMS), dtype=bool)
    kind_code = {k: i for i, k in enumerate(KINDS)}
    days: dict[str, tuple[int, int, int]] = {}
    for i, rec in enumerate(records):
        claims = rec.get("就医") or ()
        count[i] = len(claims)
        for k, c in enumerate(claims):
            text = c["日期"]
            d = days.get(text)
            if d is None:
                day = dt.date.fromisoformat(text)
                d = days[text] = (day.toordinal(), day.year * 12 + day.month, day.year)
            date[i, k], ym[i, k], year[i, k] = d
            kind[i, k] = kind_code[c["类别"]]
            cost[i, k], basic[i, k] = c["政策范围内费用"], c["基本医保支付"]
            referred[i, k] = c["事实"][REFERRED] == "是"
    return {"count": count, "date": date, "ym": ym, "year": year, "kind": kind,
            "cost": np.rint(cost * 100).astype(np.int64), "basic": np.rint(basic * 100).astype(np.int64),
            "referred": referred}


def columns(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Person columns (numpy_longyan.columns) and claim columns."""
    return {"person": numpy_longyan.columns(records), "claims": claim_columns(records)}


# ------------------------------------------------------------------ the arithmetic
def _segments(before: np.ndarray, after: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Σ over paying segments of (the part of (before, after] in it) × rate%, rounded half-up once."""
    total = np.zeros_like(before)
    for i, (lower, upper, rate) in enumerate(params["segments"]):
        lo = max(lower, params["deductible"]) if i == 0 else lower
        hi = after if upper is None else np.minimum(after, upper)
        total += np.maximum(hi - np.maximum(before, lo), 0) * rate
    return (total + 50) // 100


def settle(cols: dict[str, Any], coverage: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """Per claim slot (n, 5): 大病保险, 医保后自付, 医疗救助 in 分, and the claim status code.

    coverage, if given, receives how many claims took each path (to show what a cross-check exercised).
    """
    person, claims = cols["person"], cols["claims"]
    n = len(claims["count"])
    cat_base = np.zeros(n, dtype=np.int64)  # the year's self-pay after basic insurance so far
    cat_paid = np.zeros(n, dtype=np.int64)
    ded_base = np.zeros(n, dtype=np.int64)  # self-pay counted towards the annual assistance deductible
    paid = np.zeros(n, dtype=np.int64)  # assistance paid this year (the cap holder is the project itself)
    out = {key: np.zeros((n, MAX_CLAIMS), dtype=np.int64) for key in ("catastrophic", "self_pay", "assistance")}
    out["status"] = np.zeros((n, MAX_CLAIMS), dtype=np.int8)
    ordinary_cap = ORDINARY_FEN["cap"]
    prev_rate = np.full(n, -1, dtype=np.int64)  # coverage only: the previous claim's decided rate (−1 none)
    self_pay_all = np.zeros(n, dtype=np.int64)  # coverage only: the year's self-pay over every earlier claim
    for k in range(MAX_CLAIMS):
        active = claims["count"] > k
        if not active.any():
            break
        d = numpy_longyan.decide({**person, "date": claims["date"][:, k], "ym": claims["ym"][:, k],
                                  "year": claims["year"][:, k]})
        # 大病保险
        base = np.where(active, claims["cost"][:, k] - claims["basic"][:, k], 0)
        before, after = cat_base, cat_base + base
        tilt = d["大病保险倾斜.status"] == DECIDED
        ordinary = np.minimum(_segments(before, after, ORDINARY_FEN), np.maximum(ordinary_cap - cat_paid, 0))
        catastrophic = np.where(tilt, _segments(before, after, TILT_FEN), ordinary)
        cat_base, cat_paid = after, cat_paid + catastrophic
        self_pay = base - catastrophic
        # 医疗救助
        pays = active & claims["referred"][:, k] & (d["救助比例.status"] == DECIDED)
        deductible = d["救助起付标准.value"]
        annual = pays & (deductible > 0)
        left = np.maximum(deductible - ded_base, 0)
        eligible = np.where(annual, np.maximum(self_pay - left, 0), self_pay)
        ded_base = np.where(annual, ded_base + self_pay, ded_base)
        raw = (eligible * d["救助比例.value"] + 500) // 1000  # rate in per mille
        room = np.maximum(d["年度救助限额.value"] - paid, 0)
        assistance = np.where(pays, np.minimum(raw, room), 0)
        paid = paid + assistance
        out["catastrophic"][:, k] = catastrophic
        out["self_pay"][:, k] = self_pay
        out["assistance"][:, k] = assistance
        out["status"][:, k] = np.where(active, np.where(pays, SETTLED, NO_ASSISTANCE), 0)
        if coverage is not None:
            rate = np.where(d["救助比例.status"] == DECIDED, d["救助比例.value"], -1)
            ordinary_raw = _segments(before, after, ORDINARY_FEN)
            for key, mask in {
                "claims": active,
                "catastrophic_paid": active & (catastrophic > 0),
                "catastrophic_tilt": active & tilt,
                "catastrophic_tilt_paid": active & tilt & (catastrophic > 0),
                "catastrophic_ordinary_cap_binds": active & ~tilt & (ordinary_raw > ordinary),
                "catastrophic_crosses_segment_boundary": active & (((before < 100_000_00) & (after > 100_000_00))
                                                                  | ((before < 150_000_00) & (after > 150_000_00))),
                "not_referred": active & ~claims["referred"][:, k],
                "assistance_rate_decided": active & (d["救助比例.status"] == DECIDED),
                "all_items_excluded_第三类_not_paid": active & (d["救助比例.status"] == numpy_longyan.EXCLUDED),
                "assistance_paid": pays & (assistance > 0),
                "deductible_annual": annual,
                "deductible_partly_left": annual & (left > 0) & (self_pay > left),
                "deductible_absorbs_claim": annual & (left > 0) & (self_pay <= left),
                "cap_binds": pays & (raw > room),
                "cap_already_used_up": pays & (room == 0),
                **{f"rate_{r // 10}%": pays & (d["救助比例.value"] == r) for r in (900, 700, 600, 500)},
                "rate_differs_from_previous_claim": active & (k > 0) & (rate != prev_rate),
                # the other reading of 按年起付: every claim of the year counts towards the deductible
                # (also those without a category on their date, or not referred) — where would it change the base?
                "deductible_other_reading_differs": annual & (np.maximum(deductible - self_pay_all, 0) != left),
            }.items():
                coverage[key] = coverage.get(key, 0) + int(mask.sum())
            prev_rate = rate
            self_pay_all = self_pay_all + np.where(active, self_pay, 0)
    return out


# ------------------------------------------------------------------ agreement with the reasoner
FIELDS = ("catastrophic", "self_pay", "assistance", "status")


def reasoner_arrays(settlements: Sequence[Sequence[Any]], n: int) -> dict[str, np.ndarray]:
    """The same (n, 5) arrays from reasoner.settle results (one list of Settlements per person)."""
    out = {key: np.zeros((n, MAX_CLAIMS), dtype=np.int64) for key in FIELDS}
    for i, years in enumerate(settlements):
        k = 0
        for s in years:
            for c in s.claims:
                k = int(c.claim.id[1:]) - 1  # claims are c1..c5 in date order
                out["catastrophic"][i, k] = c.catastrophic
                out["self_pay"][i, k] = c.self_pay
                out["assistance"][i, k] = c.assistance
                out["status"][i, k] = STATUS_CODE[c.status]
    return out


def agreement(settlements: Sequence[Sequence[Any]], records: Sequence[dict[str, Any]],
              npres: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per claim: do the reasoner and numpy agree on 大病保险, 医保后自付, 医疗救助 and the status?"""
    mine = reasoner_arrays(settlements, len(records))
    counts = np.array([len(r.get("就医") or ()) for r in records])
    active = np.arange(MAX_CLAIMS)[None, :] < counts[:, None]
    report: dict[str, Any] = {"claims": int(active.sum()), "persons": len(records)}
    everything = np.ones_like(active)
    for key in FIELDS:
        ok = mine[key] == npres[key]
        report[key] = round(100.0 * float(ok[active].mean()), 4)
        everything &= ok
    report["all_fields"] = round(100.0 * float(everything[active].mean()), 4)
    report["assistance_and_catastrophic"] = round(
        100.0 * float(((mine["assistance"] == npres["assistance"]) & (mine["catastrophic"] == npres["catastrophic"]))[active].mean()), 4)
    report["disagreeing_claims"] = int((~everything & active).sum())
    bad_i, bad_k = np.nonzero(~everything & active)
    report["examples"] = [
        {"person": records[i].get("编号"), "claim": f"c{k + 1}",
         **{f"{key}_reasoner": int(mine[key][i, k]) for key in FIELDS},
         **{f"{key}_numpy": int(npres[key][i, k]) for key in FIELDS}}
        for i, k in list(zip(bad_i.tolist(), bad_k.tolist()))[:5]]
    report["total_assistance_fen"] = {"reasoner": int(mine["assistance"].sum()), "numpy": int(npres["assistance"].sum())}
    return report


def main(argv: list[str] | None = None) -> int:
    from reasoner import load_policies
    from reasoner.settle import settle as reasoner_settle

    from .settle_generate import generate_settle

    ap = argparse.ArgumentParser(description="Time the numpy Longyan settlement and check agreement with reasoner.settle.")
    ap.add_argument("n", type=int, nargs="?", default=10000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    records = generate_settle(args.n, args.seed)
    t0 = time.perf_counter()
    cols = columns(records)
    t1 = time.perf_counter()
    npres = settle(cols)
    t2 = time.perf_counter()
    coverage: dict[str, int] = {}
    settle(cols, coverage)
    print(f"numpy: columns {1000 * (t1 - t0):.1f} ms, settlement {1000 * (t2 - t1):.1f} ms for {args.n} persons, "
          f"{int(cols['claims']['count'].sum())} claims")
    reasoner = load_policies()
    t3 = time.perf_counter()
    results = [reasoner_settle(reasoner, r) for r in records]
    print(f"reasoner.settle: {time.perf_counter() - t3:.1f} s")
    print(agreement(results, records, npres))
    print("paths exercised (claims):", coverage)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
