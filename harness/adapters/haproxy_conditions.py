"""HAProxy 2.6 ACL conditions (``if``/``unless`` ...) evaluated over the request method.

Owns the condition grammar as HAProxy parses it (haproxy/haproxy v2.6 ``src/acl.c``
``parse_acl_cond``; https://docs.haproxy.org/2.6/configuration.html#7.2):

* a condition is a disjunction of term suites: ``[!]acl1 [!]acl2 ... { or|"||" [!]acl ... }``;
  the terms of a suite are ANDed, ``or`` (any case) and ``||`` separate suites;
* ``!`` negates the next term; several ``!`` toggle; a lone ``!`` word negates the next word;
* a term is a named ACL declared *earlier in the same section* (``acl <name> <criterion> ...``;
  several lines with one name are ORed), an anonymous ACL ``{ <criterion> ... }`` or a
  predefined ACL (configuration.txt 7.4: ``METH_GET`` is ``method GET HEAD``, ``TRUE``,
  ``FALSE``, ``HTTP`` ...); a user ACL shadows a predefined one of the same name;
* ``unless`` negates the whole condition.

A condition is evaluated for every method of :data:`METHODS` with three-valued (Kleene) logic:
true, false or *unknown* when the result depends on something other than the method (a header,
the path, a variable, a pattern file). Only the ``method`` criterion with exact values (and
``-i``) and the constant ACLs are evaluated; everything else is reported by its text so the
adapter can name it in ``RetryPolicy.not_judged``. Method matching follows ``pat_match_meth``
(``src/pattern.c``): a value naming one of HAProxy's known methods (GET HEAD POST PUT DELETE
OPTIONS TRACE CONNECT) matches that method only, exactly (``method get`` matches no GET, even
with ``-i``); any other value is compared as a string (case-insensitively with ``-i``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.errors import BadInput

METHODS: tuple[str, ...] = (
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "OPTIONS",
    "TRACE",
    "CONNECT",
    "PATCH",
)
"""The methods a condition is evaluated for (HAProxy's known ones plus PATCH)."""

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
"""Methods HAProxy 2.6 parses into an enum (``find_http_meth``); others are strings."""

_ALL = frozenset(METHODS)
PREDEFINED_METHOD_ACLS: dict[str, frozenset[str]] = {
    "METH_CONNECT": frozenset({"CONNECT"}),
    "METH_DELETE": frozenset({"DELETE"}),
    "METH_GET": frozenset({"GET", "HEAD"}),
    "METH_HEAD": frozenset({"HEAD"}),
    "METH_OPTIONS": frozenset({"OPTIONS"}),
    "METH_POST": frozenset({"POST"}),
    "METH_PUT": frozenset({"PUT"}),
    "METH_TRACE": frozenset({"TRACE"}),
    "TRUE": _ALL,
    "FALSE": frozenset(),
    "HTTP": _ALL,  # req.proto_http: always true for an http-request rule in HTTP mode
}
"""Predefined ACLs decided by the method alone (configuration.txt 2.6, section 7.4)."""

PREDEFINED_OTHER: frozenset[str] = frozenset(
    {
        "HTTP_1.0",
        "HTTP_1.1",
        "HTTP_2.0",
        "HTTP_CONTENT",
        "HTTP_URL_ABS",
        "HTTP_URL_SLASH",
        "HTTP_URL_STAR",
        "LOCALHOST",
        "RDP_COOKIE",
        "REQ_CONTENT",
        "WAIT_END",
    }
)
"""Predefined ACLs that depend on more than the method: evaluated as unknown."""


@dataclass(frozen=True)
class Truth:
    """A condition's value per method: true for ``true``, unknown for ``unknown``, else false.

    ``unknowns`` names the constructs that made some method unknown.
    """

    true: frozenset[str]
    unknown: frozenset[str] = frozenset()
    unknowns: tuple[str, ...] = ()

    @property
    def false(self) -> frozenset[str]:
        return _ALL - self.true - self.unknown

    def negate(self) -> Truth:
        return Truth(self.false, self.unknown, self.unknowns)

    def and_(self, other: Truth) -> Truth:
        true = self.true & other.true
        false = self.false | other.false
        return Truth(true, _ALL - true - false, _merge(self.unknowns, other.unknowns))

    def or_(self, other: Truth) -> Truth:
        true = self.true | other.true
        false = self.false & other.false
        return Truth(true, _ALL - true - false, _merge(self.unknowns, other.unknowns))

    def value(self, method: str) -> bool | None:
        if method in self.true:
            return True
        if method in self.unknown:
            return None
        return False


def _merge(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*a, *b)))


TRUE = Truth(_ALL)
FALSE = Truth(frozenset())


def unknown(text: str) -> Truth:
    return Truth(frozenset(), _ALL, (text,))


@dataclass
class AclTable:
    """The named ACLs of one section, in declaration order (later ``acl`` lines OR in)."""

    acls: dict[str, Truth] = field(default_factory=dict)

    def declare(self, words: Sequence[str], *, file: str, line: int) -> None:
        """``acl <name> <criterion> [flags] [values...]`` (``words`` without ``acl``)."""
        if len(words) < 2:
            raise BadInput(
                "expects a name and a criterion ('acl <name> <criterion> [values]')",
                file=file,
                line=line,
                field="acl",
            )
        name = words[0]
        value = criterion(words[1:], text=f"acl {' '.join(words)}", file=file, line=line)
        before = self.acls.get(name)
        self.acls[name] = value if before is None else before.or_(value)


def criterion(words: Sequence[str], *, text: str, file: str, line: int) -> Truth:
    """One ACL expression ``<criterion> [flags] [operator] [values...]`` over the method."""
    if not words:
        raise BadInput("an ACL needs a criterion", file=file, line=line, field="acl")
    fetch, rest = words[0], list(words[1:])
    if fetch in {"always_true", "always_false"}:
        return TRUE if fetch == "always_true" else FALSE
    if fetch != "method":
        return unknown(text)
    icase = False
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        if flag == "-i":
            icase = True
        elif flag == "--":
            break
        elif flag == "-m" and rest and rest[0] == "str":
            rest.pop(0)
        else:  # -f (pattern file), -m beg/sub/reg..., -M, -u, -n: not evaluated
            return unknown(text)
    return Truth(frozenset(m for m in METHODS if any(method_matches(v, m, icase) for v in rest)))


def method_matches(value: str, method: str, icase: bool) -> bool:
    """Does pattern ``value`` of a ``method`` ACL match a request with ``method``?"""
    if value in KNOWN_METHODS:
        return method == value
    if method in KNOWN_METHODS:
        return False
    return value.upper() == method.upper() if icase else value == method


def parse_condition(
    words: Sequence[str],
    acls: Mapping[str, Truth],
    *,
    file: str,
    line: int,
    field_name: str,
) -> Truth:
    """``if|unless <condition>`` (``words`` starts with the keyword) evaluated per method.

    BadInput (as HAProxy refuses the config) for an undeclared ACL, a missing ``}`` or an empty
    condition.
    """
    if not words or words[0] not in {"if", "unless"}:
        raise BadInput(
            f"expected 'if' or 'unless' before a condition (got {' '.join(words)!r})",
            file=file,
            line=line,
            field=field_name,
        )
    result: Truth | None = None
    suite: Truth | None = None
    neg = False
    i = 1
    terms = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word.lower() == "or" or word == "||":
            if suite is not None:
                result = suite if result is None else result.or_(suite)
            suite, neg = None, False
            continue
        while word.startswith("!"):
            neg = not neg
            word = word[1:]
        if not word:
            continue
        if word == "{":
            end = i
            while end < len(words) and words[end] != "}":
                end += 1
            if end >= len(words):
                raise BadInput(
                    "missing closing '}' in condition", file=file, line=line, field=field_name
                )
            inner = words[i:end]
            term = criterion(inner, text="{ " + " ".join(inner) + " }", file=file, line=line)
            i = end + 1
        elif word in acls:
            term = acls[word]
        elif word in PREDEFINED_METHOD_ACLS:
            term = Truth(PREDEFINED_METHOD_ACLS[word])
        elif word in PREDEFINED_OTHER:
            term = unknown(word)
        else:
            known = sorted(acls)
            raise BadInput(
                f"no such ACL: {word!r} (declare it with 'acl {word} ...' before this line; "
                f"declared here: {', '.join(known) or 'none'}; predefined: "
                f"{', '.join(sorted(PREDEFINED_METHOD_ACLS) + sorted(PREDEFINED_OTHER))})",
                file=file,
                line=line,
                field=field_name,
            )
        terms += 1
        if neg:
            term = term.negate()
        neg = False
        suite = term if suite is None else suite.and_(term)
    if suite is not None:
        result = suite if result is None else result.or_(suite)
    if result is None or terms == 0:
        raise BadInput(f"'{words[0]}' needs a condition", file=file, line=line, field=field_name)
    return result.negate() if words[0] == "unless" else result
