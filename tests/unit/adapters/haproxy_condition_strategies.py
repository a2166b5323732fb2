"""Random HAProxy ACL conditions over methods, their config text and an independent reference.

A condition is generated as a tree (suites of possibly negated atoms, optionally ``unless``) and
rendered the many ways HAProxy accepts it: ``!`` attached or alone, ``or`` / ``OR`` / ``||``,
named ACLs split over several ``acl`` lines (ORed), anonymous ``{ method ... }`` ACLs and the
predefined ``METH_*`` ACLs. The reference evaluates the tree by brute force: every occurrence of
a request-dependent atom is a free boolean, and a method's result is decided only if it is the
same under every assignment. It shares no code with the adapter: the predefined ACL table is
copied here from HAProxy 2.6 configuration.txt section 7.4.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import strategies as st

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH")
DOC_TABLE = {  # configuration.txt 2.6, 7.4 Pre-defined ACLs
    "METH_CONNECT": {"CONNECT"},
    "METH_DELETE": {"DELETE"},
    "METH_GET": {"GET", "HEAD"},
    "METH_HEAD": {"HEAD"},
    "METH_OPTIONS": {"OPTIONS"},
    "METH_POST": {"POST"},
    "METH_PUT": {"PUT"},
    "METH_TRACE": {"TRACE"},
    "TRUE": set(METHODS),
    "FALSE": set(),
}
UNKNOWN_ATOMS = ("{ req.hdr(x-a) -m found }", "{ req.hdr(x-b) -m found }")
"""Request-dependent atoms (the live test controls them by sending x-a / x-b headers)."""


@dataclass(frozen=True)
class Atom:
    kind: str  # "predefined" | "named" | "anonymous" | "unknown"
    name: str  # predefined name, ACL name, or the unknown atom's text
    values: tuple[tuple[str, ...], ...] = ()  # named: one tuple per acl line; anonymous: one


@dataclass(frozen=True)
class Condition:
    keyword: str  # "if" | "unless"
    suites: tuple[tuple[tuple[bool, Atom], ...], ...]  # OR of ANDs of (negated?, atom)
    bang_alone: bool  # render "! X" instead of "!X"
    or_word: str  # "||" | "or" | "OR"


def _values() -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(METHODS), min_size=1, max_size=3).map(tuple)


def atoms(acl_names: tuple[str, ...]) -> st.SearchStrategy[Atom]:
    return st.one_of(
        st.sampled_from(sorted(DOC_TABLE)).map(lambda n: Atom("predefined", n)),
        st.builds(
            lambda n, v: Atom("named", n, v),
            st.sampled_from(acl_names),
            st.lists(_values(), min_size=1, max_size=2).map(tuple),
        ),
        _values().map(lambda v: Atom("anonymous", "", (v,))),
        st.sampled_from(UNKNOWN_ATOMS).map(lambda t: Atom("unknown", t)),
    )


def conditions(acl_names: tuple[str, ...] = ("a1", "a2")) -> st.SearchStrategy[Condition]:
    suite = st.lists(st.tuples(st.booleans(), atoms(acl_names)), min_size=1, max_size=3)
    return st.builds(
        Condition,
        st.sampled_from(["if", "unless"]),
        st.lists(suite.map(tuple), min_size=1, max_size=3).map(tuple),
        st.booleans(),
        st.sampled_from(["||", "or", "OR"]),
    )


def named_acls(cond: Condition, prefix: str = "") -> dict[str, tuple[tuple[str, ...], ...]]:
    """The ACL lines of the named atoms; one name keeps the lines of its first occurrence."""
    out: dict[str, tuple[tuple[str, ...], ...]] = {}
    for suite in cond.suites:
        for _, atom in suite:
            if atom.kind == "named":
                out.setdefault(prefix + atom.name, atom.values)
    return out


def render(cond: Condition, prefix: str = "") -> tuple[list[str], str]:
    """(acl lines, condition text) for a config; ACL names get ``prefix``."""
    acls = named_acls(cond, prefix)
    lines = [f"acl {name} method {' '.join(v)}" for name, vs in acls.items() for v in vs]
    suites = []
    for suite in cond.suites:
        words = []
        for neg, atom in suite:
            if atom.kind == "named":
                text = prefix + atom.name
            elif atom.kind == "anonymous":
                text = "{ method " + " ".join(atom.values[0]) + " }"
            else:
                text = atom.name
            if neg:
                text = ("! " if cond.bang_alone else "!") + text
            words.append(text)
        suites.append(" ".join(words))
    return lines, f"{cond.keyword} " + f" {cond.or_word} ".join(suites)


def reference(cond: Condition, prefix: str = "") -> dict[str, bool | None]:
    """Per method: True/False when decided whatever the unknown atoms are, else None."""
    acls = named_acls(cond, prefix)
    occurrences = [a for s in cond.suites for _, a in s if a.kind == "unknown"]
    out: dict[str, bool | None] = {}
    for method in METHODS:
        seen: set[bool] = set()
        for assignment in itertools.product([False, True], repeat=len(occurrences)):
            free = iter(assignment)
            any_suite = False
            for suite in cond.suites:
                all_terms = True
                for neg, atom in suite:
                    if atom.kind == "predefined":
                        v = method in DOC_TABLE[atom.name]
                    elif atom.kind == "named":
                        v = any(method in line for line in acls[prefix + atom.name])
                    elif atom.kind == "anonymous":
                        v = method in atom.values[0]
                    else:
                        v = next(free)
                    all_terms = all_terms and (v != neg)
                any_suite = any_suite or all_terms
            seen.add(any_suite if cond.keyword == "if" else not any_suite)
        out[method] = seen.pop() if len(seen) == 1 else None
    return out


def unknown_values(cond: Condition, headers: frozenset[str], method: str) -> bool:
    """The exact value for one request whose x-a/x-b headers are ``headers`` (live check)."""
    acls = named_acls(cond)
    any_suite = False
    for suite in cond.suites:
        all_terms = True
        for neg, atom in suite:
            if atom.kind == "predefined":
                v = method in DOC_TABLE[atom.name]
            elif atom.kind == "named":
                v = any(method in line for line in acls[atom.name])
            elif atom.kind == "anonymous":
                v = method in atom.values[0]
            else:
                v = ("x-a" if "x-a" in atom.name else "x-b") in headers
            all_terms = all_terms and (v != neg)
        any_suite = any_suite or all_terms
    return any_suite if cond.keyword == "if" else not any_suite
