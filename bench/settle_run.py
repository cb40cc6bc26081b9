"""Settlement benchmark (issue 3): reasoner.settle.settle against a numpy lower bound.

    python -m bench.settle_run --sizes 1000,10000,100000        # about 16 minutes on 2 cores
    python -m bench.settle_run --sizes 1000 --quick              # smoke run, under a minute

Prints a table and writes bench/results/settle_latest.json. For each size N (Longyan persons
of bench/settle_generate.py, 1–5 claims each, ≈ 2.4 on average):

1. reasoner: reasoner.settle.settle(reasoner, record) per record, every result kept — each
   ClaimResult holds its Decision (the full justification graph) and its arithmetic text, so
   any explanation can be rendered afterwards. The Reasoner is fresh but warmed on 2,000
   other persons (every date context ground, the common signatures solved), as a worker
   would be; new signatures still arrive (the "solves" column). persons/s and claims/s;
2. peak memory: tracemalloc peak of the allocations made while settling (the results are
   kept, so this grows with N), in a separate run since tracing slows Python ≈ 2.7×; for
   N > --memory-max it is measured on the first --memory-max persons and scaled by N (said so);
3. numpy: bench/numpy_settle.py on the same records — columns from the dicts, then the
   settlement (median of 7) — the ratio reasoner/numpy, and the per-claim agreement;
4. explain: reasoner.settle_explain.settlement_text of one person's settlement, p50/p99;
5. PROTOTYPE (not the reasoner's code, see CachedDecider): the same Settler with decisions
   cached per (policy, date context, signature); its speed, and whether every claim's
   result and every explanation is identical to the reasoner's;
6. stress: the numpy/reasoner agreement once more on 2,000 gravely ill persons with claims up
   to 1,000,000元, where the assistance cap and the ordinary 大病保险 cap bind often;
7. profile: cProfile of the reasoner settlement path (and of the prototype) on --profile
   persons: top functions by own time, and the time per stage.

Timed runs freeze (gc.freeze) the objects that exist before them, so that no run pays the
cyclic GC for another run's kept results; "repeat, gc disabled" shows what the GC costs.

If settling N persons would take more than --max-seconds (estimated from the previous size,
× N / previous N), N is not run: its numbers are extrapolated from the previous size and
marked as such.
"""
from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import io
import json
import pstats
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.run import _peak
from reasoner import ast as rast
from reasoner import load_policies
from reasoner.decide import Decision, Reasoner
from reasoner.numeric import evaluate_atom
from reasoner.params import parse_assumed
from reasoner.person import Claim, Person, parse_person
from reasoner.settle import Settlement, Settler
from reasoner.settle import settle as reasoner_settle
from reasoner.settle_explain import settlement_json, settlement_text

from . import numpy_settle
from .run import _machine, _ms, _pct, _table, _timed, publish
from .settle_generate import generate_settle

RESULTS = Path(__file__).resolve().parent / "results"
WARM = 2000  #: persons (another seed) settled by each fresh Reasoner before it is measured


# ------------------------------------------------------------------ PROTOTYPE: cached decisions
class CachedDecider:
    """PROTOTYPE — not part of the reasoner. A drop-in for Reasoner in reasoner.settle.Settler
    (which only calls .decide(person, claim)) that reuses one decision per
    (policy, date context, signature): a person's several claims, and persons sharing a
    signature, get the same decided core (status, categories, items, answer set) and only the
    person-specific parts are rebuilt (the Person as of the claim date, the atom results with
    their texts, the facts, the selection note).

    What it skips per claim, compared with Reasoner.decide: re-typing the person's facts and
    re-evaluating the person-level atomic conditions (done once per person and year: only the
    claim-level atoms — those naming a 就医事实 — are evaluated per claim), parsing the assumed
    parameters three times, ranking the context's values and hashing the policy text (in
    Reasoner._ground), looking up the answer set, and assembling the items (_assemble/_item).

    The key is exactly what those inputs are: the policy (content hash), the date context
    (Reasoner.context_key: policy, year, region, assumed parameters → the benefit values),
    the Signature (identity relations to the claim date, known atom values, claim kind), and,
    for atoms that are unknown, what they lack (the missing facts/parameters appear in the
    decision's texts). A policy with a per-person value (x% × a fact of the person) adds the
    person to the key (its items show the person's amount). A miss runs Reasoner.decide itself.
    """

    def __init__(self, reasoner: Reasoner):
        self.reasoner = reasoner
        self.cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.hits = self.misses = 0
        self._selections: dict[tuple[str, Any], Any] = {}
        self._policy: dict[str, tuple[str, dict[str, str], dict[str, str], list[str]]] = {}
        self._person: Person | None = None
        self._memo: dict[tuple[str, int], tuple[Any, ...]] = {}

    def _policy_info(self, policy: Any) -> tuple[str, dict[str, str], dict[str, str], list[str]]:
        info = self._policy.get(policy.name)
        if info is None:
            decls = policy.source.decls
            units = {d.name.text: d.unit or "" for d in decls if d.kind == "fact"}
            claim_units = {d.name.text: d.unit or "" for d in decls if d.kind == "claim_fact"}
            claim_atoms = [aid for aid, cond in policy.atoms.items() if _names(cond) & set(claim_units)]
            info = self._policy[policy.name] = (policy.content_hash, units, claim_units, claim_atoms)
        return info

    def decide(self, person: Person, claim: Claim) -> Decision:
        r = self.reasoner
        if person is not self._person:
            self._person, self._memo = person, {}
        at = dataclasses.replace(person, date=claim.date)
        skey = (person.region, claim.date)
        selection = self._selections.get(skey)
        if selection is None:
            selection = self._selections[skey] = r.policies.select(person.region, claim.date)
        policy = selection.policy
        digest, units, claim_units, claim_atoms = self._policy_info(policy)
        memo = self._memo.get((policy.name, at.year))
        if memo is None:  # once per person and year: what does not depend on the claim
            r._check_identities(policy, at)
            facts = r._typed_facts(policy, at)
            values = r._context(policy, at, set(units))
            assumed = parse_assumed(at.assumed)
            year, region, params = at.year, at.region, r.policies.params
            lookup = lambda name: params.lookup(name, region, year, assumed)
            person_atoms = {aid: evaluate_atom(cond, facts, units, lookup)
                            for aid, cond in policy.atoms.items() if aid not in claim_atoms}
            context = (policy.name, year, region, tuple(sorted(assumed.items())))
            per_person = any(ev.per_person is not None for ev in values.values())  # x% × a fact of the person
            memo = self._memo[(policy.name, at.year)] = (facts, values, lookup, person_atoms, context, per_person)
        facts, values, lookup, person_atoms, context, per_person = memo
        all_facts = facts | r._claim_facts(policy, at, claim)
        all_units = units | claim_units
        atoms = {aid: person_atoms[aid] if aid in person_atoms else evaluate_atom(cond, all_facts, all_units, lookup)
                 for aid, cond in policy.atoms.items()}
        sig = Reasoner.signature(policy, at, atoms, claim.kind)
        unknown = tuple((aid, res.missing) for aid, res in atoms.items() if res.value is None)
        key = (digest, context, sig, unknown, id(person) if per_person else None)
        core = self.cache.get(key)
        if core is None:
            self.misses += 1
            d = r.decide(person, claim)  # the exact path, once per key
            self.cache[key] = (d.status, d.categories, d.groups, d.undetermined, d.missing, d.items, d.answer, d.warnings)
            return d
        self.hits += 1
        status, categories, groups, undetermined, missing, items, answer, warnings = core
        d = Decision(at, policy, selection.note, status, list(categories), list(groups), list(undetermined), list(missing),
                     list(items), answer, atoms, values, all_facts, list(warnings))
        d.claim = claim
        return d


def _names(node: Any) -> set[str]:
    """Every name an AST condition mentions (facts and parameters)."""
    if isinstance(node, rast.Name):
        return {node.text}
    if dataclasses.is_dataclass(node):
        out: set[str] = set()
        for f in dataclasses.fields(node):
            out |= _names(getattr(node, f.name))
        return out
    if isinstance(node, (list, tuple)):
        return set().union(*(_names(x) for x in node)) if node else set()
    return set()


def prototype_settle(decider: CachedDecider, record: dict[str, Any]) -> list[Settlement]:
    """reasoner.settle.settle with the PROTOTYPE decider (same Settler, same arithmetic and texts)."""
    person = parse_person(record)
    return [Settler(decider, person, y).run() for y in sorted({c.date.year for c in person.claims})]  # type: ignore[arg-type]


# ------------------------------------------------------------------ identical?
def _claim_view(c: Any) -> tuple[Any, ...]:
    d = c.decision
    return (c.claim, c.status, c.catastrophic, c.catastrophic_text, c.self_pay,
            [(p.project, p.paid, p.text, p.citations, p.caps) for p in c.payments], c.reasons, c.missing, c.cap_use,
            d.person, d.policy.name, d.selection_note, d.status, d.categories, d.groups, d.undetermined, d.missing,
            d.items, d.answer.atoms, d.atom_results, d.values, d.facts, d.warnings, d.claim)


def compare(a: Sequence[list[Settlement]], b: Sequence[list[Settlement]], text_sample: Sequence[int],
            json_sample: Sequence[int]) -> dict[str, Any]:
    """Claim by claim: every field of ClaimResult and of its Decision; rendered texts and JSON on samples."""
    claims = differ = 0
    examples: list[str] = []
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        cx = [c for s in x for c in s.claims]
        cy = [c for s in y for c in s.claims]
        claims += len(cx)
        bad = len(cx) != len(cy) or any(_claim_view(p) != _claim_view(q) for p, q in zip(cx, cy))
        if bad:
            differ += 1
            if len(examples) < 5:
                examples.append(x[0].person.id if x else str(i))
    texts = sum(settlement_text(s) != settlement_text(t) for i in text_sample for s, t in zip(a[i], b[i], strict=True))
    jsons = sum(json.dumps(settlement_json(s), ensure_ascii=False, sort_keys=True) != json.dumps(settlement_json(t), ensure_ascii=False, sort_keys=True)
                for i in json_sample for s, t in zip(a[i], b[i], strict=True))
    return {"persons": len(a), "claims": claims, "persons_differing": differ, "examples": examples,
            "texts_compared": len(text_sample), "texts_differing": int(texts),
            "json_compared": len(json_sample), "json_differing": int(jsons),
            "identical": differ == 0 and texts == 0 and jsons == 0}


# ------------------------------------------------------------------ measurements
def _solves(reasoner: Reasoner) -> int:
    """Answer sets cached so far (one clingo solve each): read-only peek at the Reasoner's groundings."""
    return sum(len(g.cache) for g in reasoner._grounds.values())


def _warm_reasoner() -> Reasoner:
    reasoner = load_policies()
    for rec in generate_settle(WARM, seed=2):
        reasoner_settle(reasoner, rec)
    return reasoner


def _settle_all(fn: Callable[[dict[str, Any]], list[Settlement]], records: Sequence[dict[str, Any]]) -> list[list[Settlement]]:
    return [fn(rec) for rec in records]


def _frozen(fn: Callable[[], Any], gc_off: bool = False) -> tuple[float, Any]:
    """_timed with every object that exists before the run frozen out of the cyclic GC (gc.freeze):
    the run pays for collecting its own allocations, not for traversing earlier results, the
    records or another run's caches. gc_off: no cyclic GC at all during the run."""
    gc.collect()
    gc.freeze()
    if gc_off:
        gc.disable()
    try:
        return _timed(fn)
    finally:
        gc.enable()
        gc.unfreeze()


def bench_size(n: int, quick: bool, memory_max: int, repeat_max: int) -> dict[str, Any]:
    records = generate_settle(n, seed=1)
    n_claims = sum(len(r["就医"]) for r in records)
    res: dict[str, Any] = {"persons": n, "claims": n_claims}

    # 1. the reasoner, full explanations kept
    reasoner = _warm_reasoner()
    solves0 = _solves(reasoner)
    gc.collect()
    t, results = _frozen(lambda: _settle_all(lambda r: reasoner_settle(reasoner, r), records))
    statuses = Counter(c.status for x in results for s in x for c in s.claims)
    res["reasoner"] = {"seconds": round(t, 3), "persons_per_s": round(n / t), "claims_per_s": round(n_claims / t),
                       "us_per_claim": round(1e6 * t / n_claims, 1), "solves": _solves(reasoner) - solves0,
                       "claim_status": dict(statuses)}
    if n <= repeat_max:  # the same population again: every signature known, the per-claim cost alone
        tr, _ = _frozen(lambda: _settle_all(lambda r: reasoner_settle(reasoner, r), records))
        res["reasoner"]["repeat"] = {"seconds": round(tr, 3), "persons_per_s": round(n / tr), "claims_per_s": round(n_claims / tr),
                                     "us_per_claim": round(1e6 * tr / n_claims, 1), "solves": 0}
        _ = None
        tg, _ = _frozen(lambda: _settle_all(lambda r: reasoner_settle(reasoner, r), records), gc_off=True)
        res["reasoner"]["repeat_gc_off"] = {"seconds": round(tg, 3), "persons_per_s": round(n / tg),
                                            "claims_per_s": round(n_claims / tg), "us_per_claim": round(1e6 * tg / n_claims, 1),
                                            "gc_share_pct": round(100 * (tr - tg) / tr, 1)}
        _ = None

    # 2. memory (separate run: tracing slows Python down)
    m = min(n, memory_max)
    fresh = _warm_reasoner()
    peak, _kept = _peak(lambda: _settle_all(lambda r: reasoner_settle(fresh, r), records[:m]))
    _kept = None
    res["memory"] = {"measured_persons": m, "peak_mb": round(peak / 1e6, 2), "bytes_per_person": round(peak / m),
                     "peak_mb_at_n": round(peak / 1e6 * n / m, 1), "extrapolated": m < n}
    decider = CachedDecider(_warm_reasoner())
    peak, _kept = _peak(lambda: _settle_all(lambda r: prototype_settle(decider, r), records[:m]))
    res["memory"]["prototype_peak_mb"] = round(peak / 1e6, 2)
    res["memory"]["prototype_bytes_per_person"] = round(peak / m)

    # 3. numpy lower bound, and agreement
    col_runs = [_frozen(lambda: numpy_settle.columns(records))[0] for _ in range(3)]
    t_cols = statistics.median(col_runs)
    cols = numpy_settle.columns(records)
    runs = [_frozen(lambda: numpy_settle.settle(cols))[0] for _ in range(3 if quick else 7)]
    t_np = statistics.median(runs)
    npres = numpy_settle.settle(cols)
    coverage: dict[str, int] = {}
    numpy_settle.settle(cols, coverage)
    res["numpy"] = {"columns_ms": _ms(t_cols), "columns_ms_runs": [_ms(x) for x in col_runs], "settle_ms": _ms(t_np), "runs": len(runs),
                    "ratio_reasoner_vs_settle": round(t / t_np, 1),
                    "ratio_reasoner_vs_columns_and_settle": round(t / (t_cols + t_np), 1)}
    res["agreement"] = numpy_settle.agreement(results, records, npres)
    res["coverage"] = coverage

    # 4. explanation of one person's settlement, rendered on demand
    rng = np.random.default_rng(7)
    sample = rng.choice(n, size=min(n, 50 if quick else 300), replace=False).tolist()
    times = [_timed(lambda i=i: [settlement_text(s) for s in results[i]])[0] for i in sample]
    res["explain"] = {"persons": len(sample), "p50_ms": _ms(_pct(times, 50)), "p99_ms": _ms(_pct(times, 99)),
                      "max_ms": _ms(max(times))}

    # 5. PROTOTYPE: cached decisions
    decider = CachedDecider(_warm_reasoner())
    solves0 = _solves(decider.reasoner)
    gc.collect()
    tp, proto = _frozen(lambda: _settle_all(lambda r: prototype_settle(decider, r), records))
    text_sample = rng.choice(n, size=min(n, 50 if quick else 1000), replace=False).tolist()
    json_sample = text_sample[: (20 if quick else 100)]
    res["prototype"] = {"seconds": round(tp, 3), "persons_per_s": round(n / tp), "claims_per_s": round(n_claims / tp),
                        "us_per_claim": round(1e6 * tp / n_claims, 1), "speedup": round(t / tp, 2),
                        "ratio_vs_numpy_settle": round(tp / t_np, 1),
                        "ratio_vs_numpy_columns_and_settle": round(tp / (t_cols + t_np), 1),
                        "decision_cache": {"hits": decider.hits, "misses": decider.misses, "keys": len(decider.cache)},
                        "solves": _solves(decider.reasoner) - solves0,
                        "comparison": compare(results, proto, text_sample, json_sample)}
    if n <= repeat_max:
        proto = []
        tr, _ = _frozen(lambda: _settle_all(lambda r: prototype_settle(decider, r), records))
        res["prototype"]["repeat"] = {"seconds": round(tr, 3), "persons_per_s": round(n / tr), "claims_per_s": round(n_claims / tr),
                                      "us_per_claim": round(1e6 * tr / n_claims, 1)}
        if "repeat" in res["reasoner"]:
            res["prototype"]["repeat"]["speedup"] = round(res["reasoner"]["repeat"]["seconds"] / tr, 2)
            res["prototype"]["repeat"]["ratio_vs_numpy_settle"] = round(tr / t_np, 1)
    return res


def extrapolate(prev: dict[str, Any], n: int) -> dict[str, Any]:
    """Numbers for size n from a measured smaller size (linear in persons), marked as extrapolated."""
    f = n / prev["persons"]
    out: dict[str, Any] = {"persons": n, "claims": round(prev["claims"] * f), "extrapolated_from": prev["persons"]}
    for part in ("reasoner", "prototype"):
        p = prev[part]
        out[part] = {"seconds": round(p["seconds"] * f, 1), "persons_per_s": p["persons_per_s"],
                     "claims_per_s": p["claims_per_s"], "us_per_claim": p["us_per_claim"]}
    out["memory"] = {**prev["memory"], "peak_mb_at_n": round(prev["memory"]["peak_mb"] * n / prev["memory"]["measured_persons"], 1),
                     "extrapolated": True}
    return out


def stress_agreement(n: int) -> dict[str, Any]:
    """numpy vs reasoner on a stress population (everyone gravely ill, claims up to 1,000,000元): caps bind often."""
    records = generate_settle(n, seed=5, severe=1.0, cost_max=1_000_000_00)
    reasoner = _warm_reasoner()
    results = [reasoner_settle(reasoner, r) for r in records]
    coverage: dict[str, int] = {}
    npres = numpy_settle.settle(numpy_settle.columns(records), coverage)
    return {"persons": n, "agreement": numpy_settle.agreement(results, records, npres), "coverage": coverage}


# ------------------------------------------------------------------ profile
STAGES: list[tuple[str, str, str]] = [
    # (label, file suffix, function): cumulative time of each, per claim
    ("settle (whole path)", "reasoner/settle.py", "settle"),
    ("  parse_person (validate the record)", "reasoner/person.py", "parse_person"),
    ("  Reasoner.decide (one per claim)", "reasoner/decide.py", "decide"),
    ("    prepare: facts, context, atoms, signature", "reasoner/decide.py", "prepare"),
    ("      parse_assumed (3 per claim)", "reasoner/params.py", "parse_assumed"),
    ("      evaluate_atom", "reasoner/numeric.py", "evaluate_atom"),
    ("      Reasoner._typed_facts", "reasoner/decide.py", "_typed_facts"),
    ("      Reasoner._claim_facts", "reasoner/decide.py", "_claim_facts"),
    ("    Reasoner._ground (ranks + content hash, every call)", "reasoner/decide.py", "_ground"),
    ("      numeric.ranks", "reasoner/numeric.py", "ranks"),
    ("      CompiledPolicy.content_hash (sha256 of the source)", "reasoner/compile.py", "content_hash"),
    ("    GroundPolicy.solve (cache lookup; clingo on a new signature)", "reasoner/solve.py", "solve"),
    ("    Reasoner._assemble (items, citations)", "reasoner/decide.py", "_assemble"),
    ("  Settler._catastrophic (大病保险 + text)", "reasoner/settle.py", "_catastrophic"),
    ("  Settler._assistance (医疗救助 + text)", "reasoner/settle.py", "_assistance"),
    ("  numeric.yuan (amount → text)", "reasoner/numeric.py", "yuan"),
    ("  numeric.round_fen (Fraction)", "reasoner/numeric.py", "round_fen"),
    ("  numeric.pct (rate → text, Decimal)", "reasoner/numeric.py", "pct"),
    ("prototype settle (whole path)", "bench/settle_run.py", "prototype_settle"),
    ("  CachedDecider.decide", "bench/settle_run.py", "decide"),
]


def _stage_times(stats: pstats.Stats) -> dict[str, tuple[float, int]]:
    out: dict[str, tuple[float, int]] = {}
    for (file, _, func), (_, ncalls, _, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        for label, suffix, name in STAGES:
            if func == name and file.replace("\\", "/").endswith(suffix):
                t, c = out.get(label, (0.0, 0))
                out[label] = (t + cum, c + ncalls)
    return out


def _top(stats: pstats.Stats, k: int, key: int) -> list[dict[str, Any]]:
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][key], reverse=True)[:k]  # type: ignore[attr-defined]
    root = str(Path(__file__).resolve().parent.parent) + "/"
    out = []
    for (file, line, func), (_, ncalls, tottime, cumtime, _) in rows:
        where = file.replace(root, "") if file.startswith(root) else Path(file).name
        out.append({"function": f"{where}:{line}({func})", "calls": ncalls, "own_s": round(tottime, 3), "cum_s": round(cumtime, 3)})
    return out


def profile(n: int) -> dict[str, Any]:
    records = generate_settle(n, seed=3)
    n_claims = sum(len(r["就医"]) for r in records)
    out: dict[str, Any] = {"persons": n, "claims": n_claims}
    for name in ("reasoner", "prototype"):
        reasoner = _warm_reasoner()
        if name == "reasoner":
            call = lambda rec, reasoner=reasoner: reasoner_settle(reasoner, rec)
        else:
            decider = CachedDecider(reasoner)
            call = lambda rec, decider=decider: prototype_settle(decider, rec)
        gc.collect()
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        for rec in records:
            call(rec)
        prof.disable()
        wall = time.perf_counter() - t0
        stats = pstats.Stats(prof, stream=io.StringIO())
        stages = _stage_times(stats)
        total = max((t for label, (t, _) in stages.items() if "whole path" in label), default=wall)
        out[name] = {
            "profiled_seconds": round(wall, 2),
            "stages": [{"stage": label, "cum_s": round(stages[label][0], 3), "calls": stages[label][1],
                        "share_pct": round(100 * stages[label][0] / total, 1),
                        "us_per_claim": round(1e6 * stages[label][0] / n_claims, 1)}
                       for label, _, _ in STAGES if label in stages],
            "top_own_time": _top(stats, 20, 2),
        }
    return out


# ------------------------------------------------------------------ report
def report(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []
    for b in results["sizes"]:
        n = f"{b['persons']:,}"
        x = " (EXTRAPOLATED from " + f"{b['extrapolated_from']:,})" if "extrapolated_from" in b else ""
        r, p, mem = b["reasoner"], b["prototype"], b["memory"]
        solves = f", {r['solves']} solves" if "solves" in r else ""
        rows.append((f"settle {n} ({b['claims']:,} claims)",
                     (f"{r['persons_per_s']:,} persons/s, {r['claims_per_s']:,} claims/s ({r['seconds']} s, "
                     f"{r['us_per_claim']} µs/claim{solves}){x}")))
        if "repeat" in r:
            rr = r["repeat"]
            rows.append((f"settle {n} repeat", (f"{rr['persons_per_s']:,} persons/s, {rr['claims_per_s']:,} claims/s ({rr['seconds']} s, "
                                               f"{rr['us_per_claim']} µs/claim; same population again, no new signature)")))
        if "repeat_gc_off" in r:
            rg = r["repeat_gc_off"]
            rows.append((f"settle {n} repeat, gc disabled", (f"{rg['claims_per_s']:,} claims/s ({rg['seconds']} s, {rg['us_per_claim']} µs/claim): "
                                                            f"the cyclic GC is {rg['gc_share_pct']}% of the repeat")))
        memtxt = f"{mem['peak_mb']} MB for {mem['measured_persons']:,} persons ({mem['bytes_per_person']:,} B/person)"
        if mem["extrapolated"]:
            memtxt += f" → ≈ {mem['peak_mb_at_n']} MB at {n} (scaled)"
        if "prototype_peak_mb" in mem:
            memtxt += f"; prototype {mem['prototype_peak_mb']} MB ({mem['prototype_bytes_per_person']:,} B/person)"
        rows.append((f"settle {n} peak memory (tracemalloc)", memtxt))
        if "numpy" in b:
            np_ = b["numpy"]
            rows.append((f"numpy {n}", (f"settle {np_['settle_ms']:.1f} ms (median of {np_['runs']}), columns from records "
                                       f"{np_['columns_ms']:.1f} ms (median of 3)")))
            rows.append((f"reasoner/numpy {n}", (f"×{np_['ratio_reasoner_vs_settle']:,} (settle only), "
                                                f"×{np_['ratio_reasoner_vs_columns_and_settle']:,} (columns + settle)")))
            a = b["agreement"]
            rows.append((f"agreement {n}", (f"{a['assistance_and_catastrophic']}% of {a['claims']:,} claims on 医疗救助 and 大病保险 "
                                           f"({a['all_fields']}% also on 医保后自付 and status; {a['disagreeing_claims']} differ)")))
            e = b["explain"]
            rows.append((f"explain one person {n}", f"p50 {e['p50_ms']:.2f} ms, p99 {e['p99_ms']:.2f} ms over {e['persons']} persons"))
        ptxt = f"{p['persons_per_s']:,} persons/s, {p['claims_per_s']:,} claims/s ({p['seconds']} s, {p['us_per_claim']} µs/claim"
        if "speedup" in p:
            c = p["comparison"]
            ptxt += (f"; ×{p['speedup']} faster; ×{p['ratio_vs_numpy_settle']:,} numpy settle, "
                     f"×{p['ratio_vs_numpy_columns_and_settle']:,} numpy columns+settle; "
                     f"{'IDENTICAL' if c['identical'] else 'DIFFERS'}: {c['persons_differing']} of {c['persons']:,} persons differ, "
                     f"texts {c['texts_differing']}/{c['texts_compared']}, JSON {c['json_differing']}/{c['json_compared']}")
        rows.append((f"PROTOTYPE cached decisions {n}", ptxt + ")" + x))
        if "repeat" in p:
            pr_ = p["repeat"]
            rows.append((f"PROTOTYPE {n} repeat", (f"{pr_['persons_per_s']:,} persons/s, {pr_['claims_per_s']:,} claims/s ({pr_['seconds']} s, "
                                                  f"{pr_['us_per_claim']} µs/claim; ×{pr_.get('speedup', '?')} the reasoner's repeat; "
                                                  f"×{pr_.get('ratio_vs_numpy_settle', '?'):,} numpy settle)")))
    if "stress" in results:
        a = results["stress"]["agreement"]
        cov = results["stress"]["coverage"]
        rows.append((f"agreement, stress {results['stress']['persons']:,}",
                     (f"{a['assistance_and_catastrophic']}% of {a['claims']:,} claims ({a['all_fields']}% all fields); "
                      f"assistance cap binds on {cov['cap_binds']}, ordinary 大病保险 cap on {cov['catastrophic_ordinary_cap_binds']}")))
    m = results["machine"]
    head = f"settle bench ({m['cpus']} CPUs, Python {m['python']}, clingo {m['clingo']}, numpy {m['numpy']}, commit {m['commit']})"
    text = head + ("\n" + _table(rows) if rows else "")
    if "profile" in results:
        pr = results["profile"]
        for name in ("reasoner", "prototype"):
            text += f"\n\nprofile ({name}, cProfile, {pr['persons']:,} persons, {pr['claims']:,} claims; "
            text += f"{pr[name]['profiled_seconds']} s under the profiler)\n"
            text += _table([(s["stage"], (f"{s['cum_s']:7.3f} s  {s['share_pct']:5.1f}%  {s['us_per_claim']:6.1f} µs/claim  "
                                         f"{s['calls']:,} calls")) for s in pr[name]["stages"]])
            text += "\n  top functions by own time:\n"
            text += _table([(t["function"], f"own {t['own_s']:.3f} s, cum {t['cum_s']:.3f} s, {t['calls']:,} calls")
                            for t in pr[name]["top_own_time"][:12]])
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Settlement benchmark: reasoner.settle vs a numpy lower bound.")
    ap.add_argument("--sizes", default="1000,10000,100000", help="population sizes, comma separated")
    ap.add_argument("--quick", action="store_true", help="fewer repeats and samples; profile on 2,000 persons")
    ap.add_argument("--max-seconds", type=float, default=240.0,
                    help="extrapolate a size whose reasoner run is estimated to take longer than this (default 240)")
    ap.add_argument("--memory-max", type=int, default=10000, help="trace memory on at most this many persons (default 10000)")
    ap.add_argument("--repeat-max", type=int, default=10000,
                    help="also settle the same population a second time (every signature known) up to this size (default 10000)")
    ap.add_argument("--profile", type=int, default=None, help="persons to profile (default 10000, --quick 2000; 0: none)")
    ap.add_argument("--out", default=str(RESULTS / "settle_latest.json"))
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    results: dict[str, Any] = {"command": "python -m bench.settle_run " + " ".join(argv if argv is not None else sys.argv[1:]),
                               "machine": _machine(), "sizes": []}
    for n in sizes:
        prev = next((b for b in reversed(results["sizes"]) if "extrapolated_from" not in b), None)
        if prev is not None:
            estimate = prev["reasoner"]["seconds"] * n / prev["persons"]
            if estimate > args.max_seconds:
                print(f"settle {n}: estimated {estimate:.0f} s > {args.max_seconds:.0f} s — extrapolating from {prev['persons']}",
                      file=sys.stderr)
                results["sizes"].append(extrapolate(prev, n))
                continue
        print(f"settle {n} ...", file=sys.stderr)
        results["sizes"].append(bench_size(n, args.quick, args.memory_max, args.repeat_max))
    print("stress agreement ...", file=sys.stderr)
    results["stress"] = stress_agreement(500 if args.quick else 2000)
    profile_n = args.profile if args.profile is not None else (2000 if args.quick else 10000)
    if profile_n:
        print(f"profile {profile_n} ...", file=sys.stderr)
        results["profile"] = profile(profile_n)
    publish(report(results), results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
