"""Turning bad input files into one clear error: the one place that reads a user's YAML/JSON
file with a line for every key (:class:`LineMap`) and maps a pydantic ``ValidationError`` to a
:class:`~harness.errors.BadInput` naming file, line, dotted field (``chaos[0].replica``) and what
is allowed (:func:`bad_input_from_validation`; :class:`FieldError` lets a validator name a
field below its model).

Used by every reader of a user's file: the scenario (``harness.scenario``), the policy file
(``harness.policy.schema``), the adapters (``harness.adapters._common`` re-exports these names),
the urllib3 client config (``harness.suts.urllib3_config``), ``kit.yaml``
(``harness.substrates.kind_kit``) and a saved verdict (``harness.report.json_report``).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NoReturn

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import BadInput

PathKey = str | int
KeyPath = tuple[PathKey, ...]


def dotted(path: Iterable[PathKey]) -> str:
    """("retry", "perRetry", 0, "x") -> "retry.perRetry[0].x"."""
    out = ""
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += ("." if out else "") + key
    return out


def fail(
    reason: str,
    *,
    file: str | Path | None,
    field: str | Sequence[PathKey] | None = None,
    line: int | None = None,
) -> NoReturn:
    """Raise ``BadInput``; ``field`` may be a dotted string or a key path."""
    name = field if field is None or isinstance(field, str) else dotted(field)
    raise BadInput(reason, file=file, line=line, field=name)


@dataclass(frozen=True)
class LineMap:
    """1-based line numbers of keys (and list items) of one YAML document, by key path."""

    lines: Mapping[KeyPath, int] = field(default_factory=dict)

    def line(self, *path: PathKey) -> int | None:
        """Line of ``path``, or of its deepest known ancestor; None when unknown."""
        p: KeyPath = tuple(path)
        while True:
            if p in self.lines:
                return self.lines[p]
            if not p:
                return None
            p = p[:-1]

    def under(self, *prefix: PathKey) -> LineMap:
        """The map of a sub-tree, with paths relative to ``prefix``."""
        n = len(prefix)
        sub = {k[n:]: v for k, v in self.lines.items() if k[:n] == tuple(prefix)}
        return LineMap(sub)


def _index_lines(
    node: yaml.Node, path: KeyPath, out: dict[KeyPath, int], inside: frozenset[int] = frozenset()
) -> None:
    """Record the line of ``node`` and of everything below it (an alias of an enclosing node,
    a recursive document, is indexed once)."""
    out.setdefault(path, node.start_mark.line + 1)
    if id(node) in inside:
        return
    inside = inside | {id(node)}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            out[(*path, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*path, key), out, inside)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = item.start_mark.line + 1
            _index_lines(item, (*path, i), out, inside)


def reject_duplicate_keys(root: yaml.Node | None, file: str | Path) -> None:
    """Reject a mapping that names one key twice (PyYAML silently keeps the last)."""
    seen_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")] if root is not None else []
    while stack:
        node, path = stack.pop()
        if id(node) in seen_nodes:  # an alias: already checked
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for k, v in node.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else None
                here = f"{path}.{key}" if path else str(key)
                if key is not None:
                    if key in keys:
                        raise BadInput(
                            f"duplicate key '{key}'",
                            file=file,
                            line=k.start_mark.line + 1,
                            field=here,
                        )
                    keys.add(key)
                stack.append((v, here))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))


def read_text(path: Path) -> str:
    """The file's text, or BadInput when it is missing, a directory or not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail("file not found", file=path)
    except IsADirectoryError:
        fail("is a directory, expected a file", file=path)
    except UnicodeDecodeError as err:
        fail(f"is not UTF-8 text ({err.reason} at byte {err.start})", file=path)
    except OSError as err:
        fail(f"cannot be read ({err.strerror})", file=path)


def parse_yaml_documents(text: str, *, file: str | Path) -> list[tuple[Any, LineMap]]:
    """Every non-empty document of ``text`` (YAML or JSON) with its line map.

    Malformed YAML raises BadInput with the line of the problem. Documents may be any YAML
    value; use :func:`load_yaml_documents` when each must be a mapping.
    """
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = err.problem or "malformed YAML"
        fail(f"malformed YAML: {problem}", file=file, line=line)
    except yaml.YAMLError as err:
        fail(f"malformed YAML: {err}", file=file)
    docs: list[tuple[Any, LineMap]] = []
    for node in nodes:
        if node is None:
            continue
        constructor = yaml.SafeLoader("")
        try:
            value = constructor.construct_document(node)
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            line = mark.line + 1 if mark is not None else None
            fail(f"malformed YAML: {err.problem or err}", file=file, line=line)
        finally:
            constructor.dispose()
        if value is None:
            continue
        reject_duplicate_keys(node, file)
        lines: dict[KeyPath, int] = {}
        _index_lines(node, (), lines)
        docs.append((value, LineMap(lines)))
    return docs


def parse_toml(text: str, *, file: str | Path) -> dict[str, Any]:
    """``text`` as a TOML table; malformed TOML raises BadInput with the line tomllib names
    (tomllib keeps no line per key, so values have none)."""
    import re
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        fail(f"malformed TOML: {exc}", file=file, line=int(match.group(1)) if match else None)


def load_yaml_documents(path: Path) -> list[tuple[dict[str, Any], LineMap]]:
    """Every non-empty document of a YAML/JSON file as (mapping, line map).

    BadInput (naming the file and line) on a missing file, malformed YAML, or a document that is
    not a mapping. An empty file gives an empty list.
    """
    out: list[tuple[dict[str, Any], LineMap]] = []
    for value, lines in parse_yaml_documents(read_text(path), file=path):
        if not isinstance(value, dict):
            fail(
                f"each YAML document must be a mapping (got {type(value).__name__})",
                file=path,
                line=lines.line(),
            )
        out.append((value, lines))
    return out


def load_yaml_mapping(path: Path) -> tuple[dict[str, Any], LineMap]:
    """The single mapping document of a file (BadInput when empty or multi-document)."""
    docs = load_yaml_documents(path)
    if not docs:
        fail("is empty, expected a YAML/JSON mapping", file=path)
    if len(docs) > 1:
        fail(f"expected one YAML document, found {len(docs)}", file=path, line=docs[1][1].line())
    return docs[0]


class FieldError(ValueError):
    """A rule broken at ``loc`` (a key path below the model whose validator raised it).

    Raised inside a pydantic validator, it makes :func:`bad_input_from_validation` name that
    field (and its line) instead of the model's, with ``reason`` as the whole message.
    """

    def __init__(self, loc: tuple[str | int, ...], reason: str) -> None:
        super().__init__(reason)
        self.loc = loc
        self.reason = reason


def _strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _members(types_: Iterable[Any]) -> list[Any]:
    """The union members of each type (``None`` left out, ``Annotated`` stripped)."""
    out: list[Any] = []
    for tp in types_:
        tp = _strip_annotated(tp)
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            out.extend(_strip_annotated(a) for a in typing.get_args(tp) if a is not type(None))
        else:
            out.append(tp)
    return out


def _models(types_: Iterable[Any]) -> list[type[BaseModel]]:
    return [m for m in _members(types_) if isinstance(m, type) and issubclass(m, BaseModel)]


def _tag(model: type[BaseModel]) -> str | None:
    """The ``kind`` default that tags ``model`` in a discriminated union, if it has one."""
    kind = model.model_fields.get("kind")
    return kind.default if kind is not None and isinstance(kind.default, str) else None


@dataclass(frozen=True)
class _Place:
    """Where one pydantic error points: the user's key path, and what is allowed there."""

    path: KeyPath
    models: list[type[BaseModel]]  # the model(s) that validated the object at ``path``


def _place(
    loc: Sequence[Any],
    model: type[BaseModel] | None,
    lines: LineMap | None,
    *,
    unknown_key: bool = False,
) -> _Place:
    """The user's key path of a pydantic ``loc``, without union tags and validator names.

    With ``model``, the loc is walked through its field types: a part that names a field, a
    list index or a dict key is the user's; a union member's tag or class name narrows the
    candidates; anything else (``function-after[...]``, ``float``, ...) is pydantic's own. Where
    the types say nothing, a part is kept when the file has it (``lines``) or is its last.
    """
    current: list[Any] = [model] if model is not None else []
    path: list[PathKey] = []
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        members = _members(current)
        models = _models(current)
        nxt: list[Any] = []
        if isinstance(part, int):
            for m in members:
                origin, args = typing.get_origin(m), typing.get_args(m)
                if origin in (list, tuple, frozenset, set) and args:
                    nxt.append(args[0])
                elif origin is dict and len(args) == 2:
                    nxt.append(args[1])
            if nxt or not current or (lines is not None and (*path, part) in lines.lines):
                path.append(part)
                current = nxt
            continue
        if not isinstance(part, str):
            continue
        fields = [m.model_fields[part].annotation for m in models if part in m.model_fields]
        tagged = [m for m in models if m.__name__ == part or (len(models) > 1 and _tag(m) == part)]
        mapping_values = [
            typing.get_args(m)[1]
            for m in members
            if typing.get_origin(m) is dict and len(typing.get_args(m)) == 2
        ]
        if tagged:  # before fields: a discriminated union's tag may also be a field name
            current = list(tagged)
        elif fields:
            path.append(part)
            current = fields
        elif mapping_values:
            path.append(part)
            current = mapping_values
        elif not current:
            known = lines is not None and (*path, part) in lines.lines
            if known or last or lines is None or not lines.lines:
                path.append(part)
        elif last and unknown_key:
            path.append(part)  # the key the model at ``path`` does not have
        # else: pydantic's name of a validator or of a non-model union member: not the user's
    return _Place(tuple(path), _models(current) if model is not None else [])


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def plain_number(value: Any) -> str:
    """A value as a user reads it in a message: a number as written or as a plain integer.

    ``10**30`` -> all its digits, ``2.5`` -> ``2.5``, the YAML 1.1 string ``'1e30'`` (PyYAML
    reads an exponent without a dot as a string) -> ``1e30``; anything else as its (shortened)
    repr (a float keeps its ``.0``: ``20000000.0`` is not a whole number to a strict field).
    """
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        text = str(value)
        return text if len(text) <= 60 else text[:57] + "..."
    if isinstance(value, float):  # 1e+30 is how 1.0e30 reads back: its digits are not known
        return repr(value)
    if isinstance(value, str) and _is_number(value) and not _is_number(value, whole=True):
        return _short(value.strip()).strip("'\"")  # '500' stays quoted: it was, in YAML
    return _short(value)


def _is_number(text: str, *, whole: bool = False) -> bool:
    try:
        int(text) if whole else float(text)
    except ValueError:
        return False
    return True


_NUMBER_ERRORS = frozenset(
    {
        "int_type",
        "int_parsing",
        "int_parsing_size",
        "int_from_float",
        "float_type",
        "float_parsing",
        "finite_number",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
    }
)
"""pydantic's error types of a number field, reworded by :func:`_number_rule`."""


def _unwrap(annotation: Any, metadata: Sequence[Any] = ()) -> tuple[Any, list[Any]]:
    """``Annotated[int, Field(ge=1)]`` -> ``(int, [Ge(1)])``: a type without its annotations,
    and the constraints they carry (a ``Field``'s own metadata included)."""
    found = list(metadata)
    while typing.get_origin(annotation) is Annotated:
        annotation, *extra = typing.get_args(annotation)
        for item in extra:
            found.extend(getattr(item, "metadata", None) or [item])
    return annotation, found


_TYPE_RULES = {
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "list_type": "a list",
    "set_type": "a list",
    "frozen_set_type": "a list",
    "tuple_type": "a list",
}
"""pydantic's error types of a value of the wrong shape, in the user's words (a YAML file's)."""


def _number_field(
    loc: tuple[Any, ...], model: type[BaseModel] | None, lines: LineMap | None
) -> tuple[Any, list[Any]] | None:
    """The type and constraints of the number ``loc`` points at: a model's field (or a member
    of its union), or an item of a list/set/mapping field; None when unknown."""
    if model is None or not loc:
        return None
    if isinstance(loc[-1], int):  # an item: the container's element type
        outer = _number_field(loc[:-1], model, lines)
        if outer is None:
            return None
        args = typing.get_args(outer[0])
        if typing.get_origin(outer[0]) is dict and len(args) == 2:
            return _unwrap(args[1])
        return _unwrap(args[0]) if args else None
    for end in (len(loc), len(loc) - 1):
        if end < 1 or not isinstance(loc[end - 1], str):
            continue
        for parent in _place(loc[: end - 1], model, lines).models:
            if loc[end - 1] in parent.model_fields:
                info = parent.model_fields[loc[end - 1]]
                return _unwrap(info.annotation, info.metadata)
    return None


def _bound(value: Any) -> str:
    """A field's bound as written in its model: ``3600.0`` (pydantic's ctx) -> ``3600``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return plain_number(value)


def _number_rule(kind: str, ctx: Mapping[str, Any], number: tuple[Any, list[Any]] | None) -> str:
    """ "a whole number in 1..10000000", "a number > 0 and <= 3600": the allowed values of a
    number field, from its type and constraints (``number``, see :func:`_number_field`) or else
    pydantic's ``ctx`` (which holds only the bound that was broken)."""
    bounds: dict[str, Any] = {}
    whole = kind.startswith("int_")
    if number is not None:
        annotation, metadata = number
        for item in metadata:
            for bound in ("ge", "gt", "le", "lt"):
                if getattr(item, bound, None) is not None:
                    bounds[bound] = getattr(item, bound)
        args = typing.get_args(annotation) or (annotation,)
        whole = whole or (int in args and float not in args)
    if not bounds:
        bounds = {b: ctx[b] for b in ("ge", "gt", "le", "lt") if b in ctx}
    if whole:  # whole numbers: > 0 is 1.., < 10 is ..9
        if "gt" in bounds and float(bounds["gt"]).is_integer():
            bounds.setdefault("ge", int(bounds.pop("gt")) + 1)
        if "lt" in bounds and float(bounds["lt"]).is_integer():
            bounds.setdefault("le", int(bounds.pop("lt")) - 1)
    what = "a whole number" if whole else "a number"
    low = next(((op, bounds[b]) for b, op in (("ge", ">="), ("gt", ">")) if b in bounds), None)
    high = next(((op, bounds[b]) for b, op in (("le", "<="), ("lt", "<")) if b in bounds), None)
    if low is not None and high is not None and low[0] == ">=" and high[0] == "<=":
        return f"{what} in {_bound(low[1])}..{_bound(high[1])}"
    limits = [f"{op} {_bound(v)}" for op, v in (b for b in (low, high) if b is not None)]
    return f"{what} {' and '.join(limits)}" if limits else what


def _problem(
    err: Mapping[str, Any], model: type[BaseModel] | None, lines: LineMap | None
) -> tuple[KeyPath, str]:
    """The user's key path and the one-line reason of one pydantic error."""
    loc = tuple(err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, FieldError):
        return _place((*loc, *cause.loc), model, lines).path, cause.reason
    place = _place(loc, model, lines, unknown_key=kind == "extra_forbidden")
    if kind == "extra_forbidden":
        parent = _place(loc[:-1], model, lines)
        if parent.models:
            allowed = ", ".join(parent.models[0].model_fields)
            return place.path, f"unknown field '{loc[-1]}'; allowed: {allowed}"
        return place.path, f"unknown field '{loc[-1]}'"
    if kind == "missing":
        return place.path, "required field is missing"
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        field_ = str(ctx.get("discriminator", "'kind'")).strip("'")
        tags = [t for m in place.models if (t := _tag(m)) is not None]
        allowed = ", ".join(tags)
        if kind == "union_tag_invalid":
            return place.path, f"unknown {field_} '{ctx.get('tag')}'; allowed: {allowed}"
        return place.path, f"needs '{field_}'; allowed: {allowed}"
    if kind in ("model_type", "model_attributes_type") and place.models:
        allowed = ", ".join(place.models[0].model_fields)
        return (
            place.path,
            f"must be a mapping with fields {allowed} (got {_short(err.get('input'))})",
        )
    if kind in _NUMBER_ERRORS:
        rule = _number_rule(kind, ctx, _number_field(loc, model, lines))
        value = err.get("input")
        got = plain_number(value)
        if kind == "int_type" and isinstance(value, str) and _is_number(value):
            got += ", which YAML reads as text"  # 1e3: a YAML 1.1 float needs a dot (1.0e3)
        return place.path, f"must be {rule} (got {got})"
    if kind in _TYPE_RULES or kind == "literal_error":
        rule = _TYPE_RULES.get(kind) or str(ctx.get("expected", "one of the allowed values"))
        return place.path, f"must be {rule} (got {plain_number(err.get('input'))})"
    msg = str(err["msg"])
    for noise in ("Value error, ", "Assertion failed, "):
        if msg.startswith(noise):
            msg = msg[len(noise) :]
    value = err.get("input")
    if kind not in ("value_error", "assertion_error") and (
        value is None or isinstance(value, str | int | float | bool)
    ):
        msg += f" (got {_short(value)})"
    return place.path, msg


def _other_branch(
    loc: tuple[Any, ...], path: KeyPath, other: tuple[Any, ...], deeper: KeyPath
) -> bool:
    """Whether another union member's error reached deeper into the same value: then this
    member (``timeout`` "not a number" beside ``timeout.read`` "> 0") did not fit its shape."""
    return len(deeper) > len(path) and deeper[: len(path)] == path and other[: len(loc)] != loc


def bad_input_from_validation(
    err: ValidationError,
    *,
    file: str | Path | None,
    lines: LineMap | None = None,
    model: type[BaseModel] | None = None,
) -> BadInput:
    """A pydantic ``ValidationError`` as one ``BadInput``: file, line, dotted field, the rule.

    ``model`` is the model that was validated: with it, union tags are left out of the field
    name, an unknown field lists the allowed ones and a discriminated union lists its tags.
    ``lines`` gives each field its line. The most precise problem is reported (a missing field,
    known only by its parent's line, last) and the others counted: "(and 2 more problems)".
    """
    problems = [(tuple(one["loc"]), *_problem(one, model, lines)) for one in err.errors()]
    found: list[tuple[int, KeyPath, str]] = []
    for loc, path, reason in problems:
        if any(_other_branch(loc, path, other, deeper) for other, deeper, _ in problems):
            continue
        line = lines.line(*path) if lines is not None else None
        found.append((line or 0, path, reason))
    found.sort(key=lambda t: (t[2] == "required field is missing", t[0]))
    line, path, reason = found[0]
    if len(found) > 1:
        more = len(found) - 1
        reason += f" (and {more} more problem{'s' if more > 1 else ''})"
    return BadInput(reason, file=file, line=line or None, field=dotted(path) or None)
