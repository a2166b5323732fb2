"""The same policy always prints the same JSON: sets are sorted lists, whatever the process's
string hash seed (a set of strings iterates in a per-process order)."""

from __future__ import annotations

import os
import subprocess
import sys

DUMP = (
    "from harness.policy.model import *\n"
    "p = RetryPolicy(max_retries=2, retry_on=RetryOn(statuses=frozenset({504, 502, 503})),\n"
    "    methods=MethodRule(retryable=frozenset({'PUT', 'GET', 'DELETE', 'HEAD', 'OPTIONS'})),\n"
    "    not_judged=(Unmodelled(aspects=frozenset(Aspect), native='x', reason='y'),))\n"
    "print(p.model_dump_json())\n"
)


def _dump(hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    return subprocess.run(
        [sys.executable, "-c", DUMP], env=env, capture_output=True, text=True, check=True
    ).stdout


def test_policy_json_does_not_depend_on_the_hash_seed() -> None:
    outputs = {_dump(seed) for seed in ("1", "2", "3", "4")}
    assert len(outputs) == 1, outputs
    assert '"retryable":["DELETE","GET","HEAD","OPTIONS","PUT"]' in outputs.pop()
