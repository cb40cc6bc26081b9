"""This module generates a seeded synthetic population for any policy, for drafters without data.

Identities are drawn from the policy's own declarations with their recognising
departments; facts from the policy's declared units. The default shares are illustrative,
not statistics (no official shares are in this repository): about 55% of persons hold no
identity, 35% one, 10% two, identities weighted equally unless `shares` gives weights
(e.g. {"最低生活保障对象": 20, "特困供养人员": 2}). Parameters the documents do not
state get the same nominal value the checker uses, written into each record as 假设参数.
"""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from .compile import CompiledPolicy
from .witness import NOMINAL_YUAN
from .params import ParameterStore


def generate(policy: CompiledPolicy, params: ParameterStore, n: int, seed: int = 0, year: int | None = None,
             shares: dict[str, float] | None = None, bool_true: float = 0.1) -> list[dict[str, Any]]:
    """n person records for the policy's region, decided in `year` (default: the policy's first year)."""
    return list(iter_records(policy, params, n, seed, year, shares, bool_true))


def iter_records(policy: CompiledPolicy, params: ParameterStore, n: int, seed: int = 0, year: int | None = None,
                 shares: dict[str, float] | None = None, bool_true: float = 0.1) -> Iterator[dict[str, Any]]:
    """The records of generate() one by one (the same for the same seed), so a large population
    can be diffed in chunks without being held in memory."""
    rng = random.Random(seed)
    header = policy.source.header
    region = header.region.text if header.region else ""
    first = header.start or dt.date(2023, 1, 1)
    year = year or first.year
    identities = list(policy.identities)
    weights = [float((shares or {}).get(i, 1.0)) for i in identities]
    facts = [d for d in policy.source.decls if d.kind == "fact"]
    assumed = {}
    for d in policy.source.decls:
        if d.kind == "param" and d.unit == "金额":
            known = params.lookup(d.name.text, region, year)
            assumed[d.name.text] = known.fen / 100 if known.fen is not None else NOMINAL_YUAN
    for i in range(n):
        on = dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(60, 360))
        count = rng.choices((0, 1, 2), (55, 35, 10))[0]
        held = set(rng.choices(identities, weights, k=count)) if identities and count else set()
        ids = [{"名称": name, "认定部门": policy.identities.get(name) or "民政",
                "认定日期": str(on - dt.timedelta(days=rng.randrange(45, 2000)))} for name in sorted(held)]
        values: dict[str, Any] = {}
        for d in facts:
            if d.unit == "布尔":
                values[d.name.text] = rng.random() < bool_true
            elif d.unit == "金额":
                values[d.name.text] = round(rng.lognormvariate(9.6, 0.9), 2)
            elif d.unit == "数量":
                values[d.name.text] = rng.randrange(0, 10)
        yield {"编号": f"合成-{seed}-{i + 1}", "地区": region, "日期": str(on), "身份": ids, "事实": values,
               "假设参数": dict(assumed)}
