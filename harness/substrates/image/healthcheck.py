"""Docker HEALTHCHECK of the backend image: GET /healthz on the admin port answers status ok.

Sends the admin token when CHAOS_ADMIN_TOKEN is set. Exit 0 healthy, 1 not.
"""

import json
import os
import sys
import urllib.request

port = os.environ.get("ADMIN_PORT", "9001")
request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz")
token = os.environ.get("CHAOS_ADMIN_TOKEN")
if token:
    request.add_header("Authorization", f"Bearer {token}")
try:
    with urllib.request.urlopen(request, timeout=2) as answer:
        sys.exit(0 if json.load(answer).get("status") == "ok" else 1)
except (OSError, ValueError):
    sys.exit(1)
