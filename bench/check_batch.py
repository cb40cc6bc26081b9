"""Cross-check reasoner.batch.decide_batch against Reasoner.decide, row by row.

Every row of the batch must equal what Reasoner.decide gives for that record alone: the
same summary (status, categories, per item status / category / value / number), or the
same error (type and message), in the same place. The population mixes the input of every
data-driven case in tests/cases/*.yaml (all five regions), a generated Longyan population
with malformed records, and hand-made odd values (text amounts, sub-分 amounts, missing
facts, unknown facts, booleans in unusual spellings, a bad 假设参数, a region or date
without a policy, Person objects). The batch also runs with verify=1.0, which re-decides
every row the exact way inside decide_batch.

    python -m bench.check_batch            # exit status 1 on any difference
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
from pathlib import Path
from typing import Any

import yaml

from reasoner import load_policies, parse_person
from reasoner.batch import Summary, decide_batch
from reasoner.person import RecordError
from reasoner.policies import PolicySelectionError

from .generate import INCOME, OOP, PROPERTY, generate

CASES = Path(__file__).resolve().parent.parent / "tests" / "cases"


def odd_records(base: list[dict[str, Any]]) -> list[Any]:
    recs = copy.deepcopy(base[:24])
    edits = [
        lambda r: r["事实"].__setitem__(OOP, "5万元"),
        lambda r: r["事实"].__setitem__(OOP, 12.345),
        lambda r: r["事实"].__setitem__(OOP, None),
        lambda r: r["事实"].pop(INCOME),
        lambda r: r["事实"].__setitem__(PROPERTY, True),
        lambda r: r["事实"].__setitem__(PROPERTY, 1.0),
        lambda r: r["事实"].__setitem__(PROPERTY, ["是"]),
        lambda r: r["假设参数"].__setitem__("年度救助限额", "abc"),
        lambda r: r.__setitem__("地区", "北京市"),
        lambda r: r.__setitem__("日期", "2030-01-01"),
        lambda r: r["事实"].__setitem__("未知事实", 1),
        lambda r: r["事实"].__setitem__(OOP, 10**20),
        lambda r: r["事实"].__setitem__(OOP, float("nan")),
        lambda r: r["事实"].__setitem__(OOP, True),
        lambda r: r.__setitem__("假设参数", {}),
        lambda r: r.__setitem__("假设参数", {"上年度居民人均可支配收入": [1]}),
        lambda r: r["事实"].__setitem__(OOP, 43000.0),
        lambda r: r["事实"].__setitem__(OOP, 42999.99),
        lambda r: r["事实"].__setitem__(PROPERTY, "yes"),
        lambda r: r.__setitem__("待遇年度", 2022),
        lambda r: r.__setitem__("事实", {}),
        lambda r: r["事实"].__setitem__(OOP, "43,000.00"),
    ]
    for rec, edit in zip(recs, edits):
        edit(rec)
    recs[-1] = parse_person(recs[-1])  # a Person object instead of a dict
    return recs


def population(n: int, seed: int) -> list[Any]:
    records: list[Any] = []
    for path in sorted(CASES.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            records.append(case["input"])
    generated = generate(n, seed, bad=0.02)
    records += generated + odd_records(generated)
    random.Random(seed).shuffle(records)
    return records


def expected(reasoner: Any, record: Any, index: int) -> Summary | Exception:
    try:
        person = record if not isinstance(record, dict) else parse_person(record, index)
        return Summary.of(reasoner.decide(person))
    except (RecordError, PolicySelectionError, ValueError) as err:
        return err


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check decide_batch against Reasoner.decide, row by row.")
    ap.add_argument("-n", type=int, default=3000, help="generated Longyan records (default 3000)")
    ap.add_argument("--seed", type=int, default=9)
    args = ap.parse_args(argv)
    reasoner = load_policies()
    records = population(args.n, args.seed)
    result = decide_batch(reasoner, records, verify=1.0)
    bad = 0
    for i, record in enumerate(records):
        want, got = expected(reasoner, record, i), result[i]
        if isinstance(want, Exception):
            same = isinstance(got, Exception) and type(got) is type(want) and str(got) == str(want)
        else:
            same = got == want
        if not same:
            bad += 1
            if bad <= 10:
                print(f"row {i}: decide {want!r}\n        batch  {got!r}")
    print(f"{len(records)} rows ({result.stats['errors']} errors, {result.stats['exact_rows']} by the exact path): "
          f"{bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
