"""This module finds the identity layer of a program: the rules that read a person's
identity claims, and the few predicates through which the rest of the program sees them.

Why: a roster holds thousands of distinct identity combinations (which identities, recognised
by which department, in which month relative to the date, ended or not), but the rest of
decide.lp reads them only through whether each identity holds. By the splitting set theorem
(Lifschitz & Turner 1994), when a set of predicates is closed downwards (every rule defining
one of them reads only them, the policy's facts and the claims), the answer set is the layer's
own answer plus the rest evaluated on it; the rest therefore depends on the claims only
through the layer's atoms that it reads: the interface. Two persons whose claims give the same
interface atoms, and who agree on every other input, get the same answer outside the layer, so
the batch decides them once (solve.GroundPolicy.key). The layer's other predicates (why an
identity does not hold: wrong department, not yet in effect, ended) are left out of batch
groundings so that nothing on that path can read them; explanations use full groundings.

The analysis reads the program text with clingo's own parser and refuses nothing: a rule shape
it does not know (choice, disjunction, head aggregate) counts its head atoms as read as well as
defined, which can only shrink the layer and widen the interface.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from clingo import ast

from .disk_cache import remembered

Pred = tuple[str, int]  #: (name, arity)


@dataclass(frozen=True)
class Layer:
    """The part of a program that reads the given inputs, and what the rest of it reads of that part."""

    depends: frozenset[Pred]  #: predicates of the layer that depend on the inputs (the inputs included)
    interface: frozenset[Pred]  #: of those, the ones rules outside the layer read
    program: str = ""  #: the layer on its own: its rules, the program's facts, the inputs' #external declarations
    #: every rule defining a predicate of depends reads those predicates only with its head's first
    #: argument, a variable, as their first argument: then the atoms about one constant (an identity)
    #: follow from the inputs about it alone, and the layer of several identities' claims is each
    #: one's layer on its own (solve.GroundPolicy.key composes them)
    separable: bool = False

    @property
    def names(self) -> frozenset[str]:
        """The names of the layer's predicates that depend on the inputs."""
        return frozenset(name for name, _ in self.depends)

    @property
    def private(self) -> frozenset[Pred]:
        """What only the layer itself reads: hidden from answers that must not depend on it."""
        return self.depends - self.interface


@dataclass(frozen=True)
class _Rule:
    heads: frozenset[Pred]
    body: frozenset[Pred]
    text: str = ""  #: the statement as clingo prints it
    fact: bool = False  #: a plain fact (no body, a positive atom or pool of atoms as head)
    head_first: str | None = None  #: the head atom's first argument when it is a variable
    body_first: tuple[tuple[Pred, str | None], ...] = ()  #: each body literal's atom and its first argument (a variable, else None)
    nested: frozenset[Pred] = frozenset()  #: predicates read inside aggregates and conditions


def _first_variable(atom: ast.AST) -> tuple[Pred, str | None] | None:
    """A symbolic atom's predicate and its first argument if that is a variable (None for other atoms)."""
    if atom.ast_type != ast.ASTType.SymbolicAtom or atom.symbol.ast_type != ast.ASTType.Function:
        return None
    args = atom.symbol.arguments
    first = args[0].name if args and args[0].ast_type == ast.ASTType.Variable else None
    return (atom.symbol.name, len(args)), first


class _Collect(ast.Transformer):
    """Every predicate an AST node mentions (atoms inside aggregates and conditions included)."""

    def __init__(self) -> None:
        self.preds: set[Pred] = set()

    def visit_SymbolicAtom(self, node: ast.AST) -> ast.AST:
        term = node.symbol
        if term.ast_type == ast.ASTType.Function:
            self.preds.add((term.name, len(term.arguments)))
        elif term.ast_type == ast.ASTType.SymbolicTerm and term.symbol.type.name == "Function":
            self.preds.add((term.symbol.name, len(term.symbol.arguments)))
        return node


def _preds(nodes: object) -> frozenset[Pred]:
    collect = _Collect()
    for node in nodes if isinstance(nodes, (list, tuple)) else [nodes]:
        collect(node)
    return frozenset(collect.preds)


def _rules(program: str) -> tuple[list[_Rule], set[Pred], list[tuple[frozenset[Pred], str]]]:
    """The rules of a program as (defined, read) predicate sets, the predicates declared #external,
    and the other statements the layer's own program keeps (#external and #defined, with their text)."""
    rules: list[_Rule] = []
    externals: set[Pred] = set()
    declarations: list[tuple[frozenset[Pred], str]] = []

    def statement(stm: ast.AST) -> None:
        if stm.ast_type == ast.ASTType.External:
            externals.update(_preds(stm.atom))
            declarations.append((_preds(stm.atom), str(stm)))
        elif stm.ast_type == ast.ASTType.Defined:
            declarations.append((frozenset({(stm.name, stm.arity)}), str(stm)))
        elif stm.ast_type == ast.ASTType.Rule:
            head, body = stm.head, _preds(list(stm.body))
            if head.ast_type == ast.ASTType.Literal and head.atom.ast_type == ast.ASTType.SymbolicAtom and head.sign == ast.Sign.NoSign:
                direct = [_first_variable(lit.atom) for lit in stm.body if lit.ast_type == ast.ASTType.Literal]
                nested = [lit for lit in stm.body if lit.ast_type != ast.ASTType.Literal or _first_variable(lit.atom) is None]
                head_first = _first_variable(head.atom)
                rules.append(_Rule(_preds(head), body, str(stm), not stm.body, head_first[1] if head_first else None,
                                   tuple(d for d in direct if d is not None), _preds(nested)))
            elif head.ast_type == ast.ASTType.Literal and head.atom.ast_type == ast.ASTType.BooleanConstant:
                rules.append(_Rule(frozenset(), body, str(stm)))  # an integrity constraint: reads only
            else:  # a shape this analysis does not follow: its head atoms count as read too
                atoms = _preds(head)
                rules.append(_Rule(atoms, body | atoms, str(stm)))

    ast.parse_string(program, statement)
    return rules, externals, declarations


@lru_cache(maxsize=16)
def claim_layer(program: str, inputs: frozenset[Pred]) -> Layer:
    """The largest set of predicates closed downwards over the inputs and the program's facts,
    the part of it that depends on the inputs, and its interface to the rest of the program
    (computed once per program text and engine: disk_cache.remembered)."""
    return remembered("layers", (program, repr(sorted(inputs))), lambda: _claim_layer(program, inputs))


def _claim_layer(program: str, inputs: frozenset[Pred]) -> Layer:
    rules, externals, declarations = _rules(program)
    defined = {p for r in rules for p in r.heads}
    other_inputs = externals - inputs  # per-answer inputs outside the layer (conditions, 就医类别)
    layer = (defined | inputs) - other_inputs
    changed = True
    while changed:  # greatest fixpoint: drop what a rule defines from outside the layer
        changed = False
        for r in rules:
            if r.heads & layer and not (r.heads <= layer and all(p in layer or (p not in defined and p not in other_inputs) for p in r.body)):
                layer -= r.heads
                changed = True
    depends = set(inputs)
    changed = True
    while changed:  # least fixpoint: what in the layer depends on the inputs
        changed = False
        for r in rules:
            if r.heads <= layer and r.body & depends and not r.heads <= depends:
                depends |= r.heads
                changed = True
    read_outside = {p for r in rules if not r.heads or not r.heads <= layer for p in r.body}
    interface = frozenset(depends & read_outside)
    return Layer(frozenset(depends), interface,
                 _own_program(rules, declarations, lambda p: p in layer or (p not in defined and p not in other_inputs), inputs),
                 _separable(rules, frozenset(depends), layer, interface))


def _separable(rules: list[_Rule], depends: frozenset[Pred], layer: set[Pred], interface: frozenset[Pred]) -> bool:
    """Layer.separable: each rule of the layer that defines or reads depends keeps to one first argument."""
    if any(arity == 0 for _, arity in interface):
        return False
    for r in rules:
        inside = r.heads <= layer if r.heads else r.body & depends  # a rule of the layer, or a constraint on it
        if not inside or not (r.heads | r.body) & depends:
            continue
        if not r.heads or r.head_first is None or r.nested & depends:
            return False
        if any(pred in depends and first != r.head_first for pred, first in r.body_first):
            return False
    return True


def _own_program(rules: list[_Rule], declarations: list[tuple[frozenset[Pred], str]], inside: Callable[[Pred], bool],
                 inputs: frozenset[Pred]) -> str:
    """The layer as a program of its own: the rules that define its predicates (closed downwards:
    they read only the layer, the inputs and facts), the constraints that read only those, the
    facts, and the inputs' #external declarations. By the splitting set theorem its answer on the
    layer is the whole program's, at a fraction of the cost of a whole solve (GroundPolicy.key)."""
    texts = [r.text for r in rules if r.fact or (all(inside(p) for p in r.heads | r.body) and (r.heads or r.body))]
    texts += [text for preds, text in declarations if preds <= inputs or (not text.startswith("#external") and all(map(inside, preds)))]
    return "\n".join(texts) + "\n"


__all__ = ["Layer", "claim_layer"]
