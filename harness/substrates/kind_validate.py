"""Offline validation of rendered kits: core kinds and custom resources, no cluster.

- Core Kubernetes kinds: ``kubernetes_validate.validate(obj, version, strict=True)`` (the
  Kubernetes OpenAPI schemas shipped in the kubernetes-validate package; unknown fields fail).
- Custom resources (Envoy Gateway, Gateway API, Istio, Traefik): the ``openAPIV3Schema`` of the
  CRD at the version the kit pins, read from the project's own Go module
  (``go mod download -json MODULE@VERSION`` gives its ``Dir``; nothing is copied into this
  repository). Objects are checked with ``jsonschema`` after making the structural schema
  strict the way the API server prunes: an object schema with ``properties`` and neither
  ``additionalProperties`` nor ``x-kubernetes-preserve-unknown-fields`` accepts no other field.
  CEL rules (``x-kubernetes-validations``) are not evaluated: only a server does that.

``python -m harness.substrates.kind_validate RENDERED_DIR_OR_YAML... --kit KIT_DIR`` prints one
line per problem and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.errors import BadInput, RunFailed
from harness.processes.tools import run_tool
from harness.substrates.kind_kit import CrdSource, Kit, load_kit_file

DEFAULT_K8S_VERSION = "1.33"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRD files are megabytes
GO_CANDIDATES = ("go", "/usr/local/go/bin/go")

Schemas = dict[tuple[str, str, str], dict[str, Any]]
"""(group, version, kind) -> openAPIV3Schema."""


def find_go() -> str | None:
    given = os.environ.get("GO")
    if given:
        return shutil.which(given)
    for candidate in GO_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def module_dir(source: CrdSource) -> Path:
    """The module's folder in the Go module cache (downloaded through the Go module proxy)."""
    go = find_go()
    if go is None:
        raise BadInput(
            "go not found (PATH, $GO or /usr/local/go/bin/go): the CRDs come from Go modules",
            field="crds",
        )
    ref = f"{source.module}@{source.version}"
    done = run_tool(
        [go, "mod", "download", "-json", ref], timeout_s=900, what=f"go mod download {ref}"
    )
    try:
        info = json.loads(done.stdout)
    except json.JSONDecodeError:
        info = {}
    if done.returncode != 0 or "Dir" not in info:
        reason = info.get("Error") or done.stderr.strip() or f"exit status {done.returncode}"
        raise BadInput(f"go mod download {ref} failed: {reason}", field="crds")
    return Path(info["Dir"])


def crd_files(kit: Kit) -> list[Path]:
    """Every CRD file the kit names, in its pinned modules."""
    files: list[Path] = []
    for source in kit.spec.crds:
        root = module_dir(source)
        for pattern in source.files:
            found = sorted(Path(p) for p in glob.glob(str(root / pattern)))
            if not found:
                raise BadInput(
                    f"no file matches {pattern} in {source.module}@{source.version}",
                    file=kit.file,
                    field="crds",
                )
            files += found
    return files


def _strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_schemas(files: Iterable[Path]) -> Schemas:
    """The strict ``openAPIV3Schema`` of every served version of every CRD in ``files``."""
    schemas: Schemas = {}
    for path in files:
        with path.open(encoding="utf-8") as f:
            for doc in yaml.load_all(f, Loader=_LOADER):
                if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec.get("versions", []):
                    schema = (version.get("schema") or {}).get("openAPIV3Schema")
                    if schema is None:
                        continue
                    strict = _strict(copy.deepcopy(schema))
                    # metadata is checked by the API server's own rules, not the CRD schema;
                    # some CRDs (Istio's) leave apiVersion and kind out of theirs
                    props = strict.setdefault("properties", {})
                    props["metadata"] = {"type": "object"}
                    props.setdefault("apiVersion", {"type": "string"})
                    props.setdefault("kind", {"type": "string"})
                    key = (spec["group"], version["name"], spec["names"]["kind"])
                    schemas[key] = strict
    return schemas


def _group_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def _core(group: str) -> bool:
    return "." not in group or (group.endswith(".k8s.io") and not group.startswith("gateway."))


def validate_objects(
    objects: Iterable[dict[str, Any]], schemas: Schemas, *, k8s_version: str = DEFAULT_K8S_VERSION
) -> list[str]:
    """One message per problem: ``Kind/name: where: what``."""
    import jsonschema
    import kubernetes_validate

    problems: list[str] = []
    for obj in objects:
        kind = obj.get("kind", "?")
        name = (obj.get("metadata") or {}).get("name", "?")
        label = f"{kind}/{name}"
        group, version = _group_version(str(obj.get("apiVersion", "")))
        key = (group, version, kind)
        if key in schemas:
            validator = jsonschema.Draft7Validator(schemas[key])
            for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.path)):
                where = ".".join(str(p) for p in error.absolute_path) or "(top)"
                problems.append(f"{label}: {where}: {error.message}")
            continue
        if not _core(group):
            problems.append(
                f"{label}: no schema for {obj.get('apiVersion')} {kind} (no CRD of the kit)"
            )
            continue
        try:
            kubernetes_validate.validate(obj, k8s_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path) or "(top)"
            problems.append(f"{label}: {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{label}: no Kubernetes {k8s_version} schema for {group}/{version}")
    return problems


def documents(paths: Sequence[Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        with path.open(encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if isinstance(doc, dict):
                    yield doc


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize DIR`` (or ``kustomize build DIR``): offline, the built objects."""
    kubectl = shutil.which(os.environ.get("KUBECTL", "kubectl"))
    kustomize = shutil.which("kustomize")
    if kubectl:
        cmd = [kubectl, "kustomize", str(directory)]
    elif kustomize:
        cmd = [kustomize, "build", str(directory)]
    else:
        raise BadInput("neither kubectl nor kustomize is on PATH", field="kustomize")
    done = run_tool(cmd, timeout_s=120)
    if done.returncode != 0:
        raise BadInput(f"{' '.join(cmd[:2])} failed: {done.stderr.strip()}", file=directory)
    return [d for d in yaml.safe_load_all(done.stdout) if isinstance(d, dict)]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.substrates.kind_validate")
    p.add_argument("paths", nargs="+", type=Path, help="rendered folders (kustomize) or YAML")
    p.add_argument("--kit", type=Path, action="append", default=[], help="kit folder (CRDs)")
    p.add_argument("--k8s-version", default=DEFAULT_K8S_VERSION)
    args = p.parse_args(argv)
    try:
        files: list[Path] = []
        for kit_dir in args.kit:
            kit = Kit(spec=load_kit_file(kit_dir / "kit.yaml"), dir=kit_dir.resolve())
            files += crd_files(kit)
        schemas = crd_schemas(files)
        objects: list[dict[str, Any]] = []
        for path in args.paths:
            objects += kustomize_build(path) if path.is_dir() else list(documents([path]))
    except (BadInput, RunFailed) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    problems = validate_objects(objects, schemas, k8s_version=args.k8s_version)
    for line in problems:
        print(line)
    print(f"{len(objects)} objects, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
