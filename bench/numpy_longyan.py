"""A plain vectorised numpy implementation of Longyan's category and benefit rules: the lower bound.

This is what a vectorised engine (OpenFisca-style) does with 龙政办规〔2022〕14号, written by
hand from the document and rules/longyan.rules, with no reasoner code: column arrays in,
per-person categories and per-item results out, no validation, no explanation. bench/run.py
times it against reasoner.batch.decide_batch and checks that both agree item by item.

Rules encoded (clause in brackets):
- an identity holds when its department is the recognising one 二（一）2, its recognition
  lies in a month before the decision month (benefits start the month after: 二（二）),
  and it has not ended on or before the decision date;
- 第一类–第四类 by identity 二（一）1; 第五类: none of 1–4, and 个人自付 ≥ 上年度居民人均可支配收入,
  and 家庭人均收入 < 低保边缘家庭标准, and 家庭财产 meets the condition;
- exclusions 二（二）: 参保资助 for everyone who was insured before recognition; every
  item (whichever category gives it) for a 第三类 person who 未按规定缴费参保 and is not
  第一类/第二类 (“视为放弃当年医疗保险和救助待遇”: the person gives up the year's benefits);
- 待遇就高 per item 二（一）1: the best value among the person's usable categories, ties to
  the category listed first: 参保资助 (全额 1,2; 90% 3), 大病保险倾斜 (1,3), 救助起付标准
  (0 for 1–3; 10% / 25% of 上年度收入 for 4 / 5, lower is better), 救助比例 (90/70/70/60/50%),
  年度救助限额 (the parameter, for every category).

Item results are coded as integers: status (0 不适用, 1 已决定, 2 已排除), category (0 none,
1–5), value (rates and subsidy in per mille, amounts in 分, tilt 1).

    python -m bench.numpy_longyan 100000    # times the rules and checks agreement with decide_batch
"""
from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from .generate import ASSUMED, IDENTITIES, INCOME, INSURED_BEFORE, NOT_PAID, OOP, PROPERTY

CATEGORIES = ["第一类", "第二类", "第三类", "第四类", "第五类"]
#: identity → category number (二（一）1)
IDENTITY_CATEGORY = {
    "特困供养人员": 1, "孤儿": 1, "事实无人抚养儿童": 1,
    "重点优抚对象": 2, "革命“五老”人员": 2, "计划生育特殊家庭成员": 2, "重度残疾人": 2,
    "最低生活保障对象": 3, "农村易返贫致贫人员": 3, "脱贫人员": 3,
    "最低生活保障边缘家庭成员": 4,
}
NAMES = list(IDENTITIES)
ITEMS = [("参保资助", ""), ("大病保险倾斜", ""), ("救助起付标准", "住院及门诊特殊病种"),
         ("救助比例", "住院及门诊特殊病种"), ("年度救助限额", "住院及门诊特殊病种")]
NOT_APPLICABLE, DECIDED, EXCLUDED = 0, 1, 2
STATUS_TEXT = {"不适用": NOT_APPLICABLE, "已决定": DECIDED, "已排除": EXCLUDED}
SLOTS = 2  #: identity columns (the generator gives at most two identities)
NEVER = np.iinfo(np.int32).max  #: day number for "no end date"


# ------------------------------------------------------------------ columns
def _day(text: str, cache: dict[str, int]) -> int:
    day = cache.get(text)
    if day is None:
        day = cache[text] = dt.date.fromisoformat(text).toordinal()
    return day


def columns(records: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Column arrays from raw records; rows it cannot read get valid = False (no messages)."""
    n = len(records)
    date = np.zeros(n, dtype=np.int32)
    ym = np.zeros(n, dtype=np.int32)
    year = np.zeros(n, dtype=np.int16)
    ident = np.full((n, SLOTS), -1, dtype=np.int8)
    dept_ok = np.zeros((n, SLOTS), dtype=bool)
    recog = np.zeros((n, SLOTS), dtype=np.int32)
    recog_ym = np.zeros((n, SLOTS), dtype=np.int32)
    ended = np.full((n, SLOTS), NEVER, dtype=np.int32)
    valid = np.ones(n, dtype=bool)
    oop = np.zeros(n, dtype=np.float64)
    income = np.zeros(n, dtype=np.float64)
    flags = np.zeros((n, 3), dtype=bool)
    days: dict[str, int] = {}
    code = {name: k for k, name in enumerate(NAMES)}
    for i, rec in enumerate(records):
        try:
            d = dt.date.fromisoformat(rec["日期"])
            date[i], year[i], ym[i] = d.toordinal(), d.year, d.year * 12 + d.month
            for k, claim in enumerate(rec.get("身份") or ()):
                name = claim["名称"]
                ident[i, k] = code[name]
                dept_ok[i, k] = claim["认定部门"] == IDENTITIES[name]
                r = dt.date.fromisoformat(claim["认定日期"])
                recog[i, k], recog_ym[i, k] = r.toordinal(), r.year * 12 + r.month
                if claim.get("终止日期"):
                    ended[i, k] = _day(claim["终止日期"], days)
            f = rec["事实"]
            oop[i], income[i] = float(f[OOP]), float(f[INCOME])
            flags[i] = (f[PROPERTY] == "是", f[INSURED_BEFORE] == "是", f[NOT_PAID] == "是")
        except (KeyError, ValueError, TypeError, IndexError):
            valid[i] = False
    return {"date": date, "ym": ym, "year": year, "ident": ident, "dept_ok": dept_ok, "recog": recog,
            "recog_ym": recog_ym, "ended": ended, "oop": np.rint(oop * 100).astype(np.int64),
            "income": np.rint(income * 100).astype(np.int64), "property": flags[:, 0], "insured_before": flags[:, 1],
            "not_paid": flags[:, 2], "valid": valid}


def _params() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per decision year (index = year): 上年度收入, 边缘标准, 年度救助限额, in 分."""
    size = max(ASSUMED) + 1
    inc, edge, cap = (np.zeros(size, dtype=np.int64) for _ in range(3))
    for y, values in ASSUMED.items():
        inc[y] = values["上年度居民人均可支配收入"] * 100
        edge[y] = values["最低生活保障边缘家庭标准"] * 100
        cap[y] = values["年度救助限额"] * 100
    return inc, edge, cap


# ------------------------------------------------------------------ the rules
def decide(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Categories and per-item (status, category, value) for every row, vectorised."""
    inc_y, edge_y, cap_y = _params()
    year = c["year"].astype(np.intp)
    inc, edge, cap = inc_y[year], edge_y[year], cap_y[year]
    cat_of = np.zeros(len(NAMES) + 1, dtype=np.int8)  # index -1 (no identity) → 0
    for k, name in enumerate(NAMES):
        cat_of[k] = IDENTITY_CATEGORY[name]
    ym, date = c["ym"][:, None], c["date"][:, None]
    holds = (c["ident"] >= 0) & c["dept_ok"] & (c["recog"] <= date) & (c["recog_ym"] < ym) & (c["ended"] > date)
    cat = np.where(holds, cat_of[c["ident"]], 0)
    member = [None] + [(cat == k).any(axis=1) for k in (1, 2, 3, 4)]
    m1, m2, m3, m4 = member[1:]
    m5 = ~(m1 | m2 | m3 | m4) & (c["oop"] >= inc) & (c["income"] < edge) & c["property"]
    members = np.stack([m1, m2, m3, m4, m5], axis=1)
    # exclusions 二（二）
    no_subsidy = c["insured_before"]
    gone = c["not_paid"] & m3 & ~m1 & ~m2  # every item, whichever category offers it
    u1, u2, u3, u4, u5 = (m & ~gone for m in (m1, m2, m3, m4, m5))
    out: dict[str, np.ndarray] = {"members": members, "eligible": members.any(axis=1)}

    def item(name: str, offers: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]], higher: bool) -> None:
        """offers: (offered, usable, value, category) in category order; best value, ties to the first."""
        n = len(m1)
        best = np.full(n, -1 if higher else np.iinfo(np.int64).max, dtype=np.int64)
        for _, usable, value, _ in offers:
            best = np.where(usable & ((value > best) if higher else (value < best)), value, best)
        category = np.zeros(n, dtype=np.int8)
        for _, usable, value, k in reversed(offers):
            category = np.where(usable & (value == best), k, category)
        blocked = np.zeros(n, dtype=bool)
        for offered, usable, _, _ in offers:
            blocked |= offered & ~usable
        decided = category > 0
        out[name + ".status"] = np.where(decided, DECIDED, np.where(blocked, EXCLUDED, NOT_APPLICABLE)).astype(np.int8)
        out[name + ".category"] = category
        out[name + ".value"] = np.where(decided, best, 0)

    full, ninety = np.int64(1000), np.int64(900)
    item("参保资助", [(m1, u1 & ~no_subsidy, full, 1), (m2, u2 & ~no_subsidy, full, 2),
                   (m3, u3 & ~no_subsidy, ninety, 3)], higher=True)
    one = np.int64(1)
    item("大病保险倾斜", [(m1, u1, one, 1), (m3, u3, one, 3)], higher=True)
    zero = np.int64(0)
    item("救助起付标准", [(m1, u1, zero, 1), (m2, u2, zero, 2), (m3, u3, zero, 3),
                    (m4, u4, (inc * 10 + 50) // 100, 4), (m5, u5, (inc * 25 + 50) // 100, 5)], higher=False)
    item("救助比例", [(m1, u1, np.int64(900), 1), (m2, u2, np.int64(700), 2), (m3, u3, np.int64(700), 3),
                  (m4, u4, np.int64(600), 4), (m5, u5, np.int64(500), 5)], higher=True)
    item("年度救助限额", [(m1, u1, cap, 1), (m2, u2, cap, 2), (m3, u3, cap, 3), (m4, u4, cap, 4), (m5, u5, cap, 5)],
         higher=True)
    return out


# ------------------------------------------------------------------ agreement with the reasoner
def _encode_value(item: str, number: str | None) -> int:
    if number is None:
        return 0
    if item in ("参保资助", "救助比例"):
        return int(Fraction(number) * 1000)
    return int(number)


def agreement(result: Any, records: Sequence[dict[str, Any]], cols: dict[str, np.ndarray] | None = None,
              npres: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Compare a reasoner BatchResult with this implementation, row by row and item by item."""
    cols = cols if cols is not None else columns(records)
    npres = npres if npres is not None else decide(cols)
    # encode each distinct summary once, then spread by row index
    k = len(result.summaries)
    s_status = np.zeros(k, dtype=bool)
    s_members = np.zeros((k, 5), dtype=bool)
    s_items = {name: np.zeros((k, 3), dtype=np.int64) for name, _ in ITEMS}
    for j, s in enumerate(result.summaries):
        s_status[j] = s.status == "符合救助条件"
        s_members[j] = [c in s.categories for c in CATEGORIES]
        for name, scope in ITEMS:
            it = s.item(name, scope)
            cat = CATEGORIES.index(it.category) + 1 if it.category else 0
            s_items[name][j] = (STATUS_TEXT[it.status], cat, _encode_value(name, it.number))
    rows = result.rows
    both = (rows >= 0) & cols["valid"]
    r = rows[both]
    report: dict[str, Any] = {"compared": int(both.sum()), "reasoner_errors": int((rows < 0).sum()),
                              "numpy_unreadable": int((~cols["valid"]).sum())}
    checks = {"状态": s_status[r] == npres["eligible"][both],
              "类别": (s_members[r] == npres["members"][both]).all(axis=1)}
    for name, _ in ITEMS:
        mine = np.stack([npres[name + ".status"], npres[name + ".category"], npres[name + ".value"]], axis=1)[both]
        checks[name] = (s_items[name][r] == mine).all(axis=1)
    everything = np.ones(len(r), dtype=bool)
    for key, ok in checks.items():
        report[key] = round(100.0 * float(ok.mean()), 4) if len(ok) else 100.0
        everything &= ok
    report["全部一致"] = round(100.0 * float(everything.mean()), 4) if len(r) else 100.0
    bad = np.flatnonzero(both)[~everything][:5].tolist()
    report["examples"] = [records[i].get("编号") for i in bad]
    return report


def main(argv: list[str] | None = None) -> int:
    from reasoner import load_policies
    from reasoner.batch import decide_batch

    from .generate import generate

    ap = argparse.ArgumentParser(description="Time the numpy Longyan rules and check agreement with decide_batch.")
    ap.add_argument("n", type=int, nargs="?", default=100000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    records = generate(args.n, args.seed)
    t0 = time.perf_counter()
    cols = columns(records)
    t1 = time.perf_counter()
    npres = decide(cols)
    t2 = time.perf_counter()
    print(f"numpy: columns {1000 * (t1 - t0):.1f} ms, rules {1000 * (t2 - t1):.1f} ms for {args.n} persons")
    result = decide_batch(load_policies(), records)
    print(agreement(result, records, cols, npres))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
