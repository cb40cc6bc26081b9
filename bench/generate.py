"""Seeded synthetic population of Longyan (龙岩市) person records, for the benchmarks.

Each record is a plain dict in the person-record format (reasoner/person.py, Chinese keys),
as a service would receive it from JSON: dates are ISO strings, booleans 是/否, amounts in 元
(floats with at most two decimals, or whole numbers). The mix is meant to exercise every
path of Longyan's rules (龙政办规〔2022〕14号), not to be demographically realistic:

- about 40% hold no identity; of the others most hold one identity, about 15% two
  (drawn from the Longyan identities with their correct recognising department);
- about 3% of claims name a wrong department (the identity then does not hold);
- recognition dates spread over 2015 to the decision date, about 6% in the same month as
  the decision (benefits start the month after: 二（二）), about 2% after it, and about
  3% of claims ended (终止日期) on or before the decision date;
- facts for the 第五类 conditions (二（一）1: 个人自付, 家庭人均收入, 家庭财产) for
  everyone, with some values exactly on the thresholds, and the two exclusion facts of 二（二）;
- 假设参数 for the three parameters the repository does not know (per decision year,
  see ASSUMED), so that every item can be decided;
- decision dates uniform over 2023-01-01 .. 2025-12-31 (the policy's period).

``bad`` (default 0) makes that fraction of records malformed in one of several ways, to
exercise the error path: they must come back as errors in place, never dropped.

    python -m bench.generate 5 --seed 1        # print 5 records as JSON
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

import numpy as np

REGION = "龙岩市"

#: Longyan identities and their recognising departments (二（一）2), in document order.
#: bench/run.py checks this table against the compiled rules/longyan.rules.
IDENTITIES: dict[str, str] = {
    "特困供养人员": "民政",
    "孤儿": "民政",
    "事实无人抚养儿童": "民政",
    "重点优抚对象": "退役军人事务",
    "革命“五老”人员": "民政",
    "计划生育特殊家庭成员": "卫生健康",
    "重度残疾人": "残联",
    "最低生活保障对象": "民政",
    "农村易返贫致贫人员": "乡村振兴",
    "脱贫人员": "乡村振兴",
    "最低生活保障边缘家庭成员": "民政",
}
#: Relative frequency of each identity among claims (低保, 脱贫 and 边缘 are the common ones).
WEIGHTS = [2, 0.5, 0.5, 2, 0.3, 1, 6, 20, 4, 20, 12]
#: Departments used for wrong-department claims (one is a department no rule mentions).
OTHER_DEPARTMENTS = ["民政", "乡村振兴", "退役军人事务", "卫生健康", "残联", "教育局"]

#: Assumed parameter values (元) per decision year: the repository's parameter file has none
#: (null, unverified), so every record states what it assumes.
ASSUMED: dict[int, dict[str, int]] = {
    2023: {"上年度居民人均可支配收入": 43000, "最低生活保障边缘家庭标准": 12000, "年度救助限额": 45000},
    2024: {"上年度居民人均可支配收入": 45000, "最低生活保障边缘家庭标准": 12600, "年度救助限额": 47000},
    2025: {"上年度居民人均可支配收入": 47000, "最低生活保障边缘家庭标准": 13200, "年度救助限额": 49000},
}

OOP = "申请前12个月政策范围内医疗费用个人自付"
INCOME = "扣除医疗费用后家庭人均收入"
PROPERTY = "家庭财产符合低保边缘家庭条件"
INSURED_BEFORE = "认定前当年已参保"
NOT_PAID = "未按规定缴费参保"

START, END = dt.date(2023, 1, 1), dt.date(2025, 12, 31)
EARLIEST_RECOGNITION = dt.date(2015, 1, 1)


def _amount(fen: int, whole: bool) -> float | int:
    """分 → 元 as a JSON number: whole 元 as int, else a float with at most two decimals."""
    if whole:
        return fen // 100
    return round(fen / 100, 2)


def generate(n: int, seed: int = 0, bad: float = 0.0) -> list[dict[str, Any]]:
    """n Longyan person records; the same (n, seed, bad) always gives the same records."""
    rng = np.random.default_rng(seed)
    names = list(IDENTITIES)
    weights = np.array(WEIGHTS, dtype=float) / sum(WEIGHTS)
    span = (END - START).days
    day = rng.integers(0, span + 1, n)
    n_ids = rng.choice(3, size=n, p=[0.40, 0.51, 0.09])
    ident = rng.choice(len(names), size=(n, 2), p=weights)
    wrong = rng.random((n, 2)) < 0.03
    wrong_dept = rng.integers(0, len(OTHER_DEPARTMENTS), (n, 2))
    when = rng.random((n, 2))  # < .06 same month, < .08 after, else before the month
    ago = rng.integers(31, 365 * 9, (n, 2))
    ended = rng.random((n, 2)) < 0.05
    # money in 分: 自付 skewed (most small, a tail above the income threshold), income around the edge standard
    oop = (rng.lognormal(10.0, 1.0, n) * 100).astype(np.int64)
    income = (rng.normal(14000, 6000, n).clip(0, None) * 100).astype(np.int64)
    whole = rng.random(n) < 0.3
    edge = rng.random(n)  # a few exactly on a threshold
    prop = rng.random(n) < 0.6
    insured = rng.random(n) < 0.1
    unpaid = rng.random(n) < 0.05
    bad_kind = np.where(rng.random(n) < bad, rng.integers(1, 6, n), 0)

    out: list[dict[str, Any]] = []
    for i in range(n):
        date = START + dt.timedelta(days=int(day[i]))
        assumed = ASSUMED[date.year]
        claims = []
        taken: set[str] = set()
        for k in range(int(n_ids[i])):
            name = names[int(ident[i, k])]
            if name in taken:
                continue
            taken.add(name)
            dept = IDENTITIES[name]
            if wrong[i, k]:
                dept = OTHER_DEPARTMENTS[int(wrong_dept[i, k])]
                if dept == IDENTITIES[name]:
                    dept = "教育局"
            w = when[i, k]
            if w < 0.06:
                recognised = date.replace(day=1 + int(w * 1e6) % date.day)
            elif w < 0.08:
                recognised = date + dt.timedelta(days=1 + int(ago[i, k]) % 200)
            else:
                recognised = max(date - dt.timedelta(days=int(ago[i, k])), EARLIEST_RECOGNITION)
            claim = {"名称": name, "认定部门": dept, "认定日期": recognised.isoformat()}
            if ended[i, k] and recognised < date:  # half end on or before the decision date, half later
                end = recognised + (date - recognised) * int(w * 100) // 100 if int(w * 1000) % 2 else date + dt.timedelta(days=int(ago[i, k]))
                claim["终止日期"] = end.isoformat()
            claims.append(claim)
        oop_fen, income_fen = int(oop[i]), int(income[i])
        if edge[i] < 0.01:
            oop_fen = assumed["上年度居民人均可支配收入"] * 100
        elif edge[i] < 0.02:
            income_fen = assumed["最低生活保障边缘家庭标准"] * 100
        record: dict[str, Any] = {
            "编号": f"LY{seed:02d}-{i:07d}",
            "地区": REGION,
            "日期": date.isoformat(),
            "身份": claims,
            "事实": {
                OOP: _amount(oop_fen, bool(whole[i])),
                INCOME: _amount(income_fen, bool(whole[i])),
                PROPERTY: "是" if prop[i] else "否",
                INSURED_BEFORE: "是" if insured[i] else "否",
                NOT_PAID: "是" if unpaid[i] else "否",
            },
            "假设参数": dict(assumed),
        }
        if bad_kind[i]:
            _spoil(record, int(bad_kind[i]))
        out.append(record)
    return out


def _spoil(record: dict[str, Any], kind: int) -> None:
    """Make a record malformed (each kind names a different field in its RecordError)."""
    if kind == 1:
        record["日期"] = "2024-02-30"
    elif kind == 2:
        record["身份"] = [{"名称": "低保户", "认定部门": "民政", "认定日期": "2020-01-01"}]
    elif kind == 3:
        record["事实"][OOP] = "一万元"
    elif kind == 4:
        record["身份"] = [{"名称": "最低生活保障对象", "认定部门": "民政"}]
    else:
        record["性别"] = "女"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Print synthetic Longyan person records as JSON.")
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bad", type=float, default=0.0, help="fraction of malformed records")
    args = ap.parse_args(argv)
    json.dump(generate(args.n, args.seed, args.bad), sys.stdout, ensure_ascii=False, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
