"""Compile a configured ``Rule`` into a predicate tree, once per config load.

Criteria given in one rule are ANDed; ``any`` / ``all`` / ``not`` compose rules.
Each node keeps its YAML path (``routes[3].allow.any[1]``) so a decision can name
the branch that decided it.

An unverified email only ever counts against its caller: where a match helps the
caller (an allow, or a ``not`` inside a deny) ``emails`` / ``email_domains`` see
verified addresses only; where a match hurts (a deny, or a ``not`` inside an
allow) they also see the address a token merely claims. So an unverified
``ceo@example.com`` opens nothing, and ``deny: {emails: [x]}`` still stops it.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.config.schema import Rule
from proxy.identity import Identity
from proxy.policy import criteria
from proxy.policy.facts import Predicate, RequestFacts


class RuleError(ValueError):
    """A rule that cannot be compiled safely; ``path`` and ``message`` as config problems."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A compiled rule: its YAML path, its predicate, and its ``any`` branches.

    ``rest`` is the rule without its ``any`` part, so ``find`` can name the
    deciding branch in the same pass that evaluates the rule.
    """

    path: str
    matches: Predicate
    branches: tuple[CompiledRule, ...] = ()
    rest: Predicate | None = None

    def find(self, facts: RequestFacts, identity: Identity | None) -> CompiledRule | None:
        """The innermost node that decided a match of this rule, or None if it does not match.

        Only ``any`` is descended: its first matching branch is what decided, while
        every part of an ``all`` or of a plain rule decided together.
        """
        if not self.branches:
            return self if self.matches(facts, identity) else None
        for branch in self.branches:
            hit = branch.find(facts, identity)
            if hit is not None:
                return hit if self.rest is None or self.rest(facts, identity) else None
        return None

    def walk(self) -> tuple[CompiledRule, ...]:
        """This node and every node ``find`` can return, for precomputing."""
        return (self, *(n for b in self.branches for n in b.walk()))


def compile_rule(rule: Rule, *, against_caller: bool = False) -> Predicate:
    """The predicate of ``rule``: ``(facts, identity) -> bool``. Raises ``RuleError``."""
    return compile_tree(rule, "", against_caller=against_caller).matches


def compile_tree(rule: Rule, path: str, *, against_caller: bool = False) -> CompiledRule:
    """Compile ``rule`` found at YAML ``path`` into a ``CompiledRule``. Raises ``RuleError``.

    ``against_caller`` is true for a deny rule: a match there refuses the caller,
    so unverified emails count (see the module docstring).

    A rule whose every criterion is null, or an empty ``any`` / ``all``, is refused:
    compiled literally it would be "always" (or "never"), and an allow that was
    meant to say something but says nothing must not open a route.
    """
    _check_not_empty(rule, path)
    branches = tuple(
        compile_tree(r, _join(path, f"any[{i}]"), against_caller=against_caller)
        for i, r in enumerate(rule.any or ())
    )
    parts = (*_criteria(rule, against_caller), *_composition(rule, path, against_caller))
    if not branches:
        return CompiledRule(path, _all_of(parts))
    branch_part = _any_of(tuple(b.matches for b in branches))
    rest = _all_of(parts) if parts else None
    return CompiledRule(path, _all_of((*parts, branch_part)), branches, rest)


def _check_not_empty(rule: Rule, path: str) -> None:
    for name in ("any", "all"):
        if getattr(rule, name) == ():
            raise RuleError(_join(path, name), "an empty list cannot decide anything")
    if all(getattr(rule, name) is None for name in type(rule).model_fields):
        raise RuleError(path, "a rule needs at least one criterion that is not null")


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _criteria(rule: Rule, against_caller: bool) -> list[Predicate]:
    # Cheapest first: the AND stops at the first false criterion.
    parts: list[Predicate] = []
    if rule.authenticated is not None:
        parts.append(criteria.authenticated(rule.authenticated))
    if rule.auth is not None:
        parts.append(criteria.auth(rule.auth))
    if rule.methods is not None:
        parts.append(criteria.methods(rule.methods))
    if rule.groups is not None:
        parts.append(criteria.groups(rule.groups))
    if rule.emails is not None:
        parts.append(criteria.emails(rule.emails, unverified=against_caller))
    if rule.email_domains is not None:
        parts.append(criteria.email_domains(rule.email_domains, unverified=against_caller))
    if rule.ip_ranges is not None:
        parts.append(criteria.ip_ranges(rule.ip_ranges))
    if rule.claims is not None:
        parts.append(criteria.claims(rule.claims))
    return parts


def _composition(rule: Rule, path: str, against_caller: bool) -> list[Predicate]:
    # `any` is handled by the caller, which keeps its branches for `find`.
    parts: list[Predicate] = []
    if rule.all is not None:
        subs = (
            compile_tree(r, _join(path, f"all[{i}]"), against_caller=against_caller).matches
            for i, r in enumerate(rule.all)
        )
        parts.append(_all_of(tuple(subs)))
    if rule.not_ is not None:
        # Negation swaps which way a match counts: `not` in an allow helps the
        # caller only when its inner rule fails, so the inner rule is judged as a deny.
        inner = compile_tree(rule.not_, _join(path, "not"), against_caller=not against_caller)
        parts.append(_negate(inner.matches))
    return parts


def _always(facts: RequestFacts, identity: Identity | None) -> bool:
    return True


def _all_of(parts: tuple[Predicate, ...]) -> Predicate:
    # Specialised for small arities: a generic loop costs more than the criteria.
    if not parts:
        return _always  # unreachable after _check_not_empty; kept total
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda f, i: first(f, i) and second(f, i)

    def every(facts: RequestFacts, identity: Identity | None) -> bool:
        for part in parts:  # noqa: SIM110 - a generator costs more than the parts
            if not part(facts, identity):
                return False
        return True

    return every


def _any_of(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda f, i: first(f, i) or second(f, i)

    def some(facts: RequestFacts, identity: Identity | None) -> bool:
        for part in parts:  # noqa: SIM110 - a generator costs more than the parts
            if part(facts, identity):
                return True
        return False  # also for no parts, though _check_not_empty refuses them

    return some


def _negate(part: Predicate) -> Predicate:
    return lambda f, i: not part(f, i)
