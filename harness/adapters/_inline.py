"""The "inline" adapter: a canonical policy file (YAML/JSON) read as it is."""

from __future__ import annotations

from pathlib import Path

from harness.adapters.base import AdaptedPolicy, AdapterContext
from harness.policy.schema import load_policy_file

SYSTEM = "inline"


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """The canonical policy in ``path``; no defaults to fill and no quirks to note."""
    del context  # the canonical policy says everything itself
    return AdaptedPolicy(system=SYSTEM, source_file=str(path), policy=load_policy_file(path))
