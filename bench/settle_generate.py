"""Seeded synthetic Longyan (龙岩市) persons with claims (就医), for the settlement benchmark.

Each record is a person record of bench/generate.py (identities, the five facts, 假设参数 of
the decision year: 上年度居民人均可支配收入, 最低生活保障边缘家庭标准, 年度救助限额) plus:

- 1–5 claims (就医) in the calendar year of the record's 日期 (probabilities
  35/25/18/12/10%, mean ≈ 2.4), in date order, dates uniform over that year — so a claim may
  fall before an identity's recognition, in its recognition month (benefits start the
  month after), or after its 终止日期: the person's category changes during the year;
- 类别 住院 (60%) or 门诊特殊病种 (40%);
- 政策范围内费用 log-normal with a heavy tail (住院 median ≈ 14,000元, 门诊特殊病种 ≈ 3,000元;
  for the 5% of persons with a grave illness 80,000元 and 15,000元, so that some reach the
  assistance cap and the upper catastrophic segments), clipped to 50元 … 300,000元;
  30% whole 元, else with 分;
- 基本医保支付 a uniform 40–70% of it (to the 分, rounded down);
- 事实 按规定转诊: 是 (95%) or 否;
- the ordinary 大病保险 parameters (ORDINARY: 起付线 13,000元, 13,000–100,000 60%,
  100,000–150,000 65%, above 150,000 70%, 封顶线 400,000元), the reading of
  龙政办规〔2022〕14号 二（三） that tests/settle_cases/longyan.yaml uses.

No 大病保险支付 is given: the catastrophic layer is always computed (ordinary, or the
Longyan tilt for 第一类/第三类). No record is malformed.

    python -m bench.settle_generate 3 --seed 1        # print 3 records as JSON
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

import numpy as np

from .generate import ASSUMED, _amount, generate

MAX_CLAIMS = 5
CLAIM_COUNT_P = [0.35, 0.25, 0.18, 0.12, 0.10]
KINDS = ["住院", "门诊特殊病种"]
REFERRED = "按规定转诊"
COST_MIN, COST_MAX = 50_00, 300_000_00  #: 分
SEVERE = 0.05  #: share of persons whose claims are all drawn from the expensive distribution

#: Ordinary 大病保险 parameters in 分 (deductible, segments (lower, upper or None, rate %), cap).
ORDINARY_FEN: dict[str, Any] = {
    "deductible": 13_000_00,
    "segments": [(13_000_00, 100_000_00, 60), (100_000_00, 150_000_00, 65), (150_000_00, None, 70)],
    "cap": 400_000_00,
}
#: The same as a record's 大病保险 field (元).
ORDINARY: dict[str, Any] = {
    "起付线": 13000,
    "分段": [{"起": 13000, "止": 100000, "比例": "60%"}, {"起": 100000, "止": 150000, "比例": "65%"},
             {"起": 150000, "比例": "70%"}],
    "封顶线": 400000,
}
#: Longyan's tilt for 第一类/第三类 (二（三）), in 分: absolute, no cap. Used by numpy_settle only.
TILT_FEN: dict[str, Any] = {
    "deductible": 6_500_00,
    "segments": [(6_500_00, 100_000_00, 65), (100_000_00, 150_000_00, 70), (150_000_00, None, 75)],
    "cap": None,
}

NEEDED_PARAMS = ("上年度居民人均可支配收入", "最低生活保障边缘家庭标准", "年度救助限额")


def generate_settle(n: int, seed: int = 0, severe: float = SEVERE, cost_max: int = COST_MAX) -> list[dict[str, Any]]:
    """n Longyan person records with claims; the same arguments always give the same records.

    severe and cost_max (分) change the cost distribution: settle_run also cross-checks numpy
    on a stress population (everyone severe, claims up to 1,000,000元) where the caps bind often.
    """
    records = generate(n, seed)
    rng = np.random.default_rng([seed, 31337])  # a stream of its own: the person part stays bench.generate's
    count = rng.choice(np.arange(1, MAX_CLAIMS + 1), size=n, p=CLAIM_COUNT_P)
    kind = (rng.random((n, MAX_CLAIMS)) < 0.4).astype(np.int8)  # 0 住院, 1 门诊特殊病种
    day = np.sort(rng.random((n, MAX_CLAIMS)), axis=1)  # fraction of the year, in date order
    grave = rng.random(n) < severe  # a few persons with a grave illness: every claim is expensive
    inpatient = kind == 0
    mu = np.full((n, MAX_CLAIMS), np.log(3_000.0))  # log median of 政策范围内费用 (元)
    mu[inpatient] = np.log(14_000.0)
    mu[grave[:, None] & ~inpatient] = np.log(15_000.0)
    mu[grave[:, None] & inpatient] = np.log(80_000.0)
    cost = np.exp(mu + rng.standard_normal((n, MAX_CLAIMS)) * np.where(inpatient, 1.1, 1.0)) * 100
    cost = np.clip(cost, COST_MIN, cost_max).astype(np.int64)
    whole = rng.random((n, MAX_CLAIMS)) < 0.3
    cost = np.where(whole, cost // 100 * 100, cost)
    share = rng.uniform(0.40, 0.70, (n, MAX_CLAIMS))
    basic = (cost * share).astype(np.int64)
    basic = np.where(whole, basic // 100 * 100, basic)
    referred = rng.random((n, MAX_CLAIMS)) < 0.95

    for i, rec in enumerate(records):
        year = int(rec["日期"][:4])
        assumed = rec["假设参数"]
        missing = [p for p in NEEDED_PARAMS if p not in assumed]
        if missing:  # bench.generate gives all three; make sure, since every claim needs them
            assumed.update({p: ASSUMED[year][p] for p in missing})
        first = dt.date(year, 1, 1).toordinal()
        length = dt.date(year, 12, 31).toordinal() - first + 1
        claims = []
        for k in range(int(count[i])):
            date = dt.date.fromordinal(first + int(day[i, k] * length))
            w = bool(whole[i, k])
            claims.append({
                "编号": f"c{k + 1}",
                "日期": date.isoformat(),
                "类别": KINDS[int(kind[i, k])],
                "政策范围内费用": _amount(int(cost[i, k]), w),
                "基本医保支付": _amount(int(basic[i, k]), w),
                "事实": {REFERRED: "是" if referred[i, k] else "否"},
            })
        rec["大病保险"] = json.loads(json.dumps(ORDINARY))  # a copy per record, as JSON would give it
        rec["就医"] = claims
    return records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Print synthetic Longyan person records with claims as JSON.")
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    json.dump(generate_settle(args.n, args.seed), sys.stdout, ensure_ascii=False, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
