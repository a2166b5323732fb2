"""The range of a seed (the scenario's ``seed:`` and ``--seed``): one place for the bound, the
rule every refusal states and the CLI's help. Light on purpose: the CLI imports it at start-up."""

from __future__ import annotations

SEED_MAX = 2**63 - 1
"""The largest seed (a signed 64-bit integer, as numpy's generators take it)."""
SEED_RULE = f"must be an integer in 0..{SEED_MAX}"
"""What a seed allows, as every refusal of it says."""
