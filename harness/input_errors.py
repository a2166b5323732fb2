"""Turning bad input files into one clear error: the one place that reads a user's YAML/JSON
file with a line for every key (:class:`LineMap`) and maps a pydantic ``ValidationError`` to a
:class:`~harness.errors.BadInput` naming file, line and dotted field.

Used by the adapters (``harness.adapters._common`` re-exports these names), the policy file
reader (``harness.policy.schema``) and anything else that validates a user's file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml
from pydantic import ValidationError

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


def _index_lines(node: yaml.Node, path: KeyPath, out: dict[KeyPath, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            out[(*path, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = item.start_mark.line + 1
            _index_lines(item, (*path, i), out)


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


def bad_input_from_validation(
    err: ValidationError,
    *,
    file: str | Path,
    lines: LineMap | None = None,
    prefix: Sequence[PathKey] = (),
    field_names: Mapping[str, str] | None = None,
) -> BadInput:
    """The first pydantic error as BadInput: ``loc`` joined with dots, line from ``lines``.

    ``field_names`` renames canonical fields to native ones in the message (e.g.
    ``{"max_retries": "retries"}``).
    """
    first = err.errors()[0]
    loc: KeyPath = tuple(p for p in first["loc"] if isinstance(p, str | int))
    full = (*prefix, *loc)
    name = ".".join(str(p) for p in full) or None
    if name is not None and field_names:
        name = field_names.get(name, name)
    line = lines.line(*full) if lines is not None else None
    message = first["msg"]
    if "input" in first and first["type"] not in ("missing", "extra_forbidden"):
        message += f" (got {first['input']!r})"
    return BadInput(message, file=file, line=line, field=name)
