"""Telemetry that a system writes as log lines: one line per retry, tagged with a request id.

``urllib3``: the urllib3 client service (harness/suts/urllib3_service.py) routes urllib3's own
retry records to its log, one per retry: ``Retry.increment`` logs "Incremented Retry for
(url=...)" at DEBUG after deciding a retry will be made and before making it
(https://github.com/urllib3/urllib3/blob/2.2.3/src/urllib3/util/retry.py, ``increment``); the
service adds the id of the request being forwarded. The telemetry check compares the number of
such lines per request id with the retries the journal shows for that request.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LogReader:
    """Which log lines count retries, and where the request id is in them."""

    system: str
    pattern: re.Pattern[str]  # group "rid": the request id
    meaning: str
    source: str

    def retries_by_request(self, log: Path) -> dict[str, int]:
        """Retry lines per request id in ``log`` (lines without an id are counted under '-')."""
        counts: Counter[str] = Counter()
        try:
            text = log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return {}
        for match in self.pattern.finditer(text):
            counts[match.group("rid")] += 1
        return dict(counts)


URLLIB3 = LogReader(
    system="urllib3",
    pattern=re.compile(r"^urllib3-retry request_id=(?P<rid>\S+) Incremented Retry for ", re.M),
    meaning="urllib3's 'Incremented Retry' record: one per retry it makes",
    source="https://github.com/urllib3/urllib3/blob/2.2.3/src/urllib3/util/retry.py (increment)",
)

LOG_READERS: dict[str, LogReader] = {"urllib3": URLLIB3}
