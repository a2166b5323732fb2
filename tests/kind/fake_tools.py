"""Stand-ins for kind, kubectl and helm that record their command lines (for unit tests of the
kind substrate's command lines and cleanup order against pytest-kind's real ``KindCluster``).

Each writes one JSON line ``{"tool", "argv", "kubeconfig"}`` to ``$FAKE_TOOLS_LOG``. The fake
kind keeps its clusters in ``$FAKE_TOOLS_STATE/clusters`` and writes a kubeconfig where asked.
``$FAKE_TOOLS_FAIL`` = ``<tool> <first args...>`` makes the matching call exit 1.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

SCRIPT = r'''#!{python}
import json, os, sys
from pathlib import Path
tool = Path(sys.argv[0]).name
argv = sys.argv[1:]
with open(os.environ["FAKE_TOOLS_LOG"], "a") as f:
    record = {{"tool": tool, "argv": argv, "kubeconfig": os.environ.get("KUBECONFIG")}}
    f.write(json.dumps(record) + "\n")
fail = os.environ.get("FAKE_TOOLS_FAIL", "")
if fail and " ".join([tool, *argv]).startswith(fail):
    sys.stderr.write(f"{{tool}}: simulated failure\n")
    sys.exit(1)
state = Path(os.environ["FAKE_TOOLS_STATE"])
clusters = state / "clusters"
names = clusters.read_text().split() if clusters.exists() else []
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:1"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""
def opt(name):
    for i, a in enumerate(argv):
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
        if a == name:
            return argv[i + 1]
    return None
if tool == "kind":
    if argv[:2] == ["get", "clusters"]:
        print("\n".join(names))
    elif argv[:2] == ["create", "cluster"]:
        clusters.write_text("\n".join(names + [opt("--name")]))
        Path(opt("--kubeconfig")).write_text(KUBECONFIG)
    elif argv[:2] == ["export", "kubeconfig"]:
        Path(opt("--kubeconfig")).write_text(KUBECONFIG)
    elif argv[:2] == ["delete", "cluster"]:
        clusters.write_text("\n".join(n for n in names if n != opt("--name")))
'''


def install(bin_dir: Path, tools: tuple[str, ...] = ("kind", "kubectl", "helm", "docker")) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        path = bin_dir / tool
        path.write_text(SCRIPT.format(python=sys.executable))
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
