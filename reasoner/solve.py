"""This module runs clingo: one grounding per policy and date context, one solve per signature.

The policy facts and the generic programs (asp/*.lp) are ground once per (policy, date
context); a person enters only through #external atoms, so solving a new person is an
assignment and a search, not a new grounding, and clingo's symbol table never grows with
the number of persons. Persons who agree on every identity state and atomic condition
share a signature and therefore an answer set, which is cached; in a batch grounding, signatures
that differ only in conditions their identity layer leaves irrelevant share one solve
(relevance.lp, GroundPolicy.shared).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import clingo

from .compile import CompiledPolicy, q
from .layers import Layer, claim_layer
from .recent import Recent

ASP_PROGRAMS = ("decide.lp", "justify.lp")
BATCH_PROGRAMS = ("decide.lp", "relevance.lp")  #: without justifications, with what GroundPolicy.relevant reads
#: Intermediate predicates of decide.lp that only explanations follow (through justify.lp's
#: why/because): a grounding without justify.lp does not show them — three quarters of a model's
#: symbols, each converted to Python. Summaries and claim plans never read them; the batch tests
#: compare those with decisions made on the full grounding, where everything is shown. The identity
#: layer's predicates other than its interface are hidden there too (GroundPolicy.layer).
EXPLAINED_ONLY = frozenset({"val", "atom_val", "nonmember", "offer", "usable", "best", "decided", "excl_person",
                            "excl_true", "claim", "claim_kind"})
RELEVANCE_ONLY = frozenset({"open_root", "below_open", "relevant"})  #: relevance.lp's: read by GroundPolicy.relevant only
ANSWERS_KEPT = 2000  #: answer sets a grounding keeps (≈ 20–50 KB each): a batch worker meets signatures without end

Term = object  # str | int | tuple (nested function terms)


class SolverError(RuntimeError):
    """Clingo reported a problem with a generated program (a bug in compile or the .lp files)."""


class SolverTimeout(SolverError):
    """A solve ran past its time limit and was cancelled (a service must never hang a worker)."""


@lru_cache(maxsize=2)
def generic_program(justify: bool = True) -> str:
    """decide.lp, and justify.lp unless only the decision is wanted (justify.lp adds the why/because
    atoms of explanations — half of an answer set — and nothing the decision itself reads); a batch
    grounding has relevance.lp instead."""
    names = ASP_PROGRAMS if justify else BATCH_PROGRAMS
    try:
        base = resources.files("reasoner.asp")
        return "\n".join(base.joinpath(name).read_text(encoding="utf-8") for name in names)
    except (ModuleNotFoundError, FileNotFoundError):
        folder = Path(__file__).resolve().parent / "asp"
        return "\n".join((folder / name).read_text(encoding="utf-8") for name in names)


_CONVERTED: dict[int, Term] = {}


def to_python(sym: clingo.Symbol) -> Term:
    """Clingo symbol → plain Python (str, int, or (name, *args)); strings stay strings.

    Memoised per symbol: reading a symbol's parts through clingo's C layer is most of the
    cost of a new answer set, and the symbols are person-free (ids, names, small numbers),
    so the memo is bounded by the policies' size, like clingo's own symbol table.
    """
    key = sym._rep  # the interned C symbol: hashing it is cheap, hashing a Symbol goes through cffi
    hit = _CONVERTED.get(key)
    if hit is not None:
        return hit
    if sym.type == clingo.SymbolType.String:
        out: Term = sym.string
    elif sym.type == clingo.SymbolType.Number:
        out = sym.number
    elif not sym.arguments:
        out = sym.name
    else:
        out = (sym.name, *(to_python(a) for a in sym.arguments))
    _CONVERTED[key] = out
    return out


def _args(atom: Term) -> tuple[Term, ...]:
    return atom[1:] if isinstance(atom, tuple) else ()


@dataclass(frozen=True)
class Signature:
    """Everything about a person that the logic can see: no ids, no amounts."""

    claims: tuple[tuple[str, str, str, str], ...]  #: (identity, department, recognition relation, end relation or "")
    atoms: tuple[tuple[str, bool], ...]  #: (atom id, value) for atoms that are known
    claim_kind: str = ""  #: the 就医类别 of the claim being settled, "" for a plain decision


#: The externals a signature's identity claims set (see GroundPolicy.solve): the inputs of the identity layer.
CLAIM_INPUTS = frozenset({("claimed", 2), ("recog", 2), ("ended", 2)})


@dataclass(frozen=True)
class AnswerKey:
    """What an answer set outside the identity layer depends on (reasoner/layers.py): the layer's
    interface atoms in place of the identity claims. Signatures with one key share a summary."""

    layer: tuple[tuple[str, tuple[Term, ...]], ...]  #: e.g. (("holds", ("最低生活保障对象",)),)
    atoms: tuple[tuple[str, bool], ...]
    claim_kind: str = ""


Atoms = dict[str, "set[tuple[Term, ...]] | frozenset[tuple[Term, ...]]"]
_NONE: frozenset[tuple[Term, ...]] = frozenset()


@dataclass
class Answer:
    """An answer set as a map predicate → set of argument tuples.

    `static` holds the predicates that are facts of the grounding (the policy's tables, the
    date context's ranks): the same in every answer of one GroundPolicy, converted once and
    shared. `derived` holds the rest, read from each model. A predicate is in one of the two.
    """

    derived: dict[str, set[tuple[Term, ...]]] = field(default_factory=dict)
    static: Atoms = field(default_factory=dict)

    @property
    def atoms(self) -> Atoms:
        return {**self.static, **self.derived}

    def get(self, pred: str) -> set[tuple[Term, ...]] | frozenset[tuple[Term, ...]]:
        return self.derived.get(pred) or self.static.get(pred) or _NONE

    def has(self, pred: str, *args: Term) -> bool:
        return tuple(args) in self.get(pred)

    def without(self, names: frozenset[str]) -> Answer:
        """This answer set but for some predicates: what a reader that must not depend on them gets."""
        return Answer({name: args for name, args in self.derived.items() if name not in names}, self.static)

    def content(self) -> frozenset[tuple[str, frozenset[tuple[Term, ...]]]]:
        """The derived atoms as one hashable value (static ones are the grounding's)."""
        return frozenset((name, frozenset(args)) for name, args in self.derived.items())


@dataclass
class Messages:
    items: list[tuple[clingo.MessageCode, str]] = field(default_factory=list)

    def __call__(self, code: clingo.MessageCode, message: str) -> None:
        self.items.append((code, message))


class GroundPolicy:
    """A policy ground for one date context; solves signatures by external assignment."""

    def __init__(self, policy: CompiledPolicy, context_facts: list[str], timeout: float | None = None, justify: bool = True):
        self.timeout = timeout  #: seconds a solve may take before it is cancelled; None: no limit
        self.justify = justify  #: False: answer sets without why/because (batch summaries; never explained)
        self.messages = Messages()
        self.control = clingo.Control(["--models=1"], logger=self.messages, message_limit=1000)
        program = generic_program(justify) + "\n" + policy.text()
        self.layer: Layer = claim_layer(program, CLAIM_INPUTS)
        self._layers: dict[tuple[tuple[str, str, str, str], ...], tuple[tuple[str, tuple[Term, ...]], ...]] = {}
        self._claims_of: dict[tuple[tuple[str, tuple[Term, ...]], ...], tuple[tuple[str, str, str, str], ...]] = {}  #: layer → claims first seen
        self._context_facts = context_facts
        self._layer_solver: _LayerSolver | None = None  #: the layer's own program, made at the first key
        self.control.add("base", [], program + "\n".join(context_facts) + "\n")
        self.control.ground([("base", [])])
        undefined = [m for c, m in self.messages.items if c == clingo.MessageCode.AtomUndefined]
        if undefined:
            raise SolverError("生成的程序引用了未定义的原子：" + "; ".join(undefined))
        # Every external is left open and each solve fixes all of them by assumptions: assigning
        # externals one by one cost ≈ 25 µs each inside clingo, assumptions cost nothing to set
        self._externals = {to_python(a.symbol): a.literal for a in self.control.symbolic_atoms if a.is_external}
        for literal in self._externals.values():
            self.control.assign_external(literal, None)
        self._all_false = [-literal for literal in self._externals.values()]
        self.cache: Recent[Signature, Answer] = Recent(ANSWERS_KEPT)
        self.static = self._split_static()
        #: relevance.lp's relevant(A) literals (batch groundings), and the conditions each layer and kind leave relevant
        self._relevant_literals = {to_python(a.symbol)[1]: a.literal for a in self.control.symbolic_atoms.by_signature("relevant", 1)}
        self._relevance: dict[tuple[tuple[tuple[str, tuple[Term, ...]], ...], str], frozenset[str]] = {}  #: (layer, 就医类别) → conditions

    def _split_static(self) -> Atoms:
        """Convert the grounding's fact-only predicates once, and show only the others in models:
        reading ~400 symbols per new signature into Python was most of a solve's cost."""
        facts: dict[tuple[str, int], list[clingo.Symbol]] = {}
        derived: set[tuple[str, int]] = set()
        for a in self.control.symbolic_atoms:
            key = (a.symbol.name, len(a.symbol.arguments))
            if a.is_fact:
                facts.setdefault(key, []).append(a.symbol)
            else:
                derived.add(key)
        hidden = {name for name, _ in self.layer.private} | EXPLAINED_ONLY | RELEVANCE_ONLY  # what no summary may read
        shown = derived if self.justify else {p for p in derived if p[0] not in hidden or p in self.layer.interface}
        self.control.add("show", [], "#show.\n" + "".join(f"#show {name}/{arity}.\n" for name, arity in sorted(shown)))
        self.control.ground([("show", [])])
        static: Atoms = {}
        for (name, _), symbols in facts.items():
            if (name, _) not in derived:
                static[name] = frozenset(_args(to_python(sym)) for sym in symbols)
        return static

    def key(self, sig: Signature) -> AnswerKey:
        """The signature's AnswerKey: its claims replaced by what the identity layer makes of them
        (one solve per distinct combination of claims, with no condition known)."""
        return AnswerKey(self._layer_of(sig.claims), sig.atoms, sig.claim_kind)

    def _layer_of(self, claims: tuple[tuple[str, str, str, str], ...]) -> tuple[tuple[str, tuple[Term, ...]], ...]:
        """What the identity layer makes of a combination of claims: solved, or — when the layer is
        separable (Layer.separable) and the claims name several identities — each identity's atoms
        from its own claims' layer, the others' from no claims (decide 10⁶: 1,317 combinations a
        worker, 252 claims of one identity)."""
        layer = self._layers.get(claims)
        if layer is None:
            if self._layer_solver is None:
                self._layer_solver = _LayerSolver(self.layer, self._context_facts)
            named = sorted({entry[0] for entry in claims})
            if self.layer.separable and len(named) > 1:
                atoms = {atom for atom in self._layer_of(()) if not _about(atom, named)}
                for ident in named:
                    atoms.update(atom for atom in self._layer_of(tuple(e for e in claims if e[0] == ident)) if _about(atom, [ident]))
                layer = self._layer_solver.arranged(atoms)
            else:
                layer = self._layer_solver.solve(claims)
            self._layers[claims] = layer
            self._claims_of.setdefault(layer, claims)
        return layer

    def representative(self, key: AnswerKey) -> Signature | None:
        """A signature with this key (claims met earlier that give its layer), or None if none was met:
        its answer set outside the identity layer is every such signature's."""
        claims = self._claims_of.get(key.layer)
        return None if claims is None else Signature(claims, key.atoms, key.claim_kind)

    def shared(self, key: AnswerKey) -> Signature | None:
        """A signature whose answer set every signature with this key has: the claims first met for its
        layer, with only the conditions relevant to the layer and kind (relevant) — keys that differ in
        conditions no open root reads share one solve. None if no claims were met for the layer."""
        if key.layer not in self._claims_of:
            return None
        relevant = self.relevant(key)
        if relevant is not None:
            key = AnswerKey(key.layer, tuple(a for a in key.atoms if a[0] in relevant), key.claim_kind)
        return self.representative(key)

    def relevant(self, key: AnswerKey) -> frozenset[str] | None:
        """The atomic conditions that can change an answer with this identity layer and 就医类别
        (relevance.lp: one solve per layer and kind, with the claims first met for the layer and no
        condition known); a signature's answer is that of the signature with only these conditions.
        None: every one (a grounding with justifications, which explanations read whole)."""
        if self.justify:
            return None
        found = self._relevance.get((key.layer, key.claim_kind))
        if found is None:
            held: set[str] = set()
            self._fixed_solve(Signature(self._claims_of[key.layer], (), key.claim_kind),
                              lambda m: held.update(aid for aid, lit in self._relevant_literals.items() if m.is_true(lit)))
            found = self._relevance[(key.layer, key.claim_kind)] = frozenset(held)
        return found

    def _external(self, *term: Term) -> int | None:
        return self._externals.get(term)

    def solve(self, sig: Signature) -> Answer:
        hit = self.cache.get_recent(sig)
        if hit is not None:
            return hit
        symbols: list[clingo.Symbol] = []
        self._fixed_solve(sig, lambda m: symbols.extend(m.symbols(shown=True)))
        answer = Answer(static=self.static)
        for sym in symbols:
            atom = to_python(sym)
            name = atom[0] if isinstance(atom, tuple) else atom
            answer.derived.setdefault(str(name), set()).add(_args(atom))
        return self.cache.put(sig, answer)

    def _fixed_solve(self, sig: Signature, on_model: Callable[[clingo.Model], None]) -> None:
        """One solve with every external fixed: those sig sets true, every other false."""
        wanted = _claim_literals(self._externals, sig.claims)
        if sig.claim_kind:
            sym = self._external("claim_kind", sig.claim_kind)
            if sym is None:
                raise SolverError(f"无法表示的就医类别：{sig.claim_kind}")
            wanted.add(sym)
        for aid, value in sig.atoms:
            sym = self._external("atom_val", aid, "t" if value else "f")
            if sym is None:
                raise SolverError(f"无法表示的条件：{aid}")
            wanted.add(sym)
        if not self._run([-lit if -lit in wanted else lit for lit in self._all_false], on_model).satisfiable:
            raise SolverError("规则程序无解（不应发生：程序是分层的）")

    def _run(self, assumptions: list[int], on_model: Callable[[clingo.Model], None]) -> clingo.SolveResult:
        """One solve; under a time limit it runs in clingo's own thread and is cancelled at the limit
        (without one, a synchronous solve: a thread per solve would cost the batch path for nothing)."""
        if self.timeout is None:
            return self.control.solve(assumptions=assumptions, on_model=on_model)
        with self.control.solve(assumptions=assumptions, on_model=on_model, async_=True) as handle:
            if not handle.wait(self.timeout):
                handle.cancel()
                raise SolverTimeout(f"求解超过时限 {self.timeout} 秒，已取消")
            return handle.get()


def _about(atom: tuple[str, tuple[Term, ...]], identities: list[str]) -> bool:
    """Whether a layer atom's first argument is one of the identities."""
    return bool(atom[1]) and atom[1][0] in identities


def _claim_literals(externals: dict[Term, int], claims: tuple[tuple[str, str, str, str], ...]) -> set[int]:
    """The #external literals a signature's identity claims set true."""
    wanted = set()
    for ident, dept, relation, ended in claims:
        for term in (("claimed", ident, dept), ("recog", ident, relation)) + ((("ended", ident, ended),) if ended else ()):
            literal = externals.get(term)
            if literal is None:
                raise SolverError(f"无法表示的输入：{term}")
            wanted.add(literal)
    return wanted


class _LayerSolver:
    """The identity layer solved on its own program (Layer.program): what a combination of claims
    makes of the interface atoms, as GroundPolicy.key reads it from a whole solve — by the
    splitting set theorem the same atoms (tests/test_layers.py compares the two), at less than half
    the cost (≈ 3,000 distinct combinations in 10⁶ persons, one solve each)."""

    def __init__(self, layer: Layer, context_facts: list[str]):
        self.names = sorted({name for name, _ in layer.interface})
        self.control = clingo.Control(["--models=1"], logger=Messages(), message_limit=1000)
        shows = "".join(f"#show {name}/{arity}.\n" for name, arity in sorted(layer.interface))
        self.control.add("base", [], layer.program + "\n".join(context_facts) + "\n#show.\n" + shows)
        self.control.ground([("base", [])])
        self.externals = {to_python(a.symbol): a.literal for a in self.control.symbolic_atoms if a.is_external}
        for literal in self.externals.values():
            self.control.assign_external(literal, None)
        self.all_false = [-literal for literal in self.externals.values()]

    def solve(self, claims: tuple[tuple[str, str, str, str], ...]) -> tuple[tuple[str, tuple[Term, ...]], ...]:
        wanted = _claim_literals(self.externals, claims)
        symbols: list[clingo.Symbol] = []
        result = self.control.solve(assumptions=[-lit if -lit in wanted else lit for lit in self.all_false],
                                    on_model=lambda m: symbols.extend(m.symbols(shown=True)))
        if not result.satisfiable:
            raise SolverError("规则程序无解（不应发生：程序是分层的）")
        atoms = set()
        for sym in symbols:
            atom = to_python(sym)
            atoms.add((str(atom[0] if isinstance(atom, tuple) else atom), _args(atom)))
        return self.arranged(atoms)

    def arranged(self, atoms: set[tuple[str, tuple[Term, ...]]]) -> tuple[tuple[str, tuple[Term, ...]], ...]:
        """Interface atoms in the order every layer is written in: by predicate name, then arguments."""
        return tuple(sorted(atoms, key=lambda atom: (self.names.index(atom[0]), repr(atom[1]))))


def context_facts(ranks: dict[str, int], absent: set[str], unknown: set[str]) -> list[str]:
    facts = [f"rank({vid},{r})." for vid, r in sorted(ranks.items())]
    facts += [f"value_absent({vid})." for vid in sorted(absent)]
    facts += [f"value_unknown({vid})." for vid in sorted(unknown)]
    return facts


__all__ = ["AnswerKey", "CLAIM_INPUTS", "GroundPolicy", "Signature", "Answer", "SolverError", "context_facts", "q"]
