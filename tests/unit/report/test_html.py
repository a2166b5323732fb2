"""The HTML report: self-contained, one embedded plot per data block, escaped, well nested."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from PIL import Image

from harness.oracle.verdict import Verdict
from harness.report.html import render_html, write_html
from tests.unit.report.sample_verdicts import HOSTILE_ID, bare_verdict, policy, verdict

PNG_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
VOID = {"meta", "br", "img", "hr", "link", "input"}


@pytest.fixture(scope="module")
def full_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("html")
    path = write_html(verdict(), folder / "r" / "report.html", policy=policy())
    return path.read_text(encoding="utf-8")


class _Nesting(HTMLParser):
    """Records tags; fails on a close tag that does not match the open one."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def _parse(doc: str) -> _Nesting:
    parser = _Nesting()
    parser.feed(doc)
    parser.close()
    assert parser.stack == []
    return parser


def test_document_is_well_nested(full_html: str) -> None:
    tags = [t for t, _ in _parse(full_html).tags]
    assert tags[0] == "html"
    assert "table" in tags and "style" in tags


def test_self_contained(full_html: str) -> None:
    parsed = _parse(full_html)
    for tag, attrs in parsed.tags:
        assert tag not in ("script", "link", "iframe", "object")
        for attr in ("src", "href"):
            value = attrs.get(attr)
            if value is not None:
                assert value.startswith(("data:", "#")), f"<{tag} {attr}={value[:40]}>"
    assert "http://" not in full_html and "https://" not in full_html
    assert "@import" not in full_html and "url(" not in full_html


def test_every_plot_is_an_embedded_png(full_html: str) -> None:
    images = PNG_URI.findall(full_html)
    assert len(images) == 4
    for encoded in images:
        image = Image.open(io.BytesIO(base64.b64decode(encoded)))
        assert image.format == "PNG"
        assert image.width >= 500 and image.height >= 150
    assert "plot omitted" not in full_html


def test_headline_checks_and_evidence(full_html: str) -> None:
    v = verdict()
    for check in v.checks:
        assert f"<code>{check.name}</code>" in full_html or f">{check.name}</a>" in full_html
    for outcome in ("pass", "fail", "inconclusive", "not_applicable"):
        assert f'class="badge {outcome}"' in full_html
    assert "1417" in full_html and "4 ms" in full_html
    assert "G-test" in full_html and "1.2e-07" in full_html
    assert "r-0311: retry 2 waited" in full_html
    assert "urllib3 does not wait before its first retry" in full_html
    assert "Declared policy" in full_html and "max_retries 3" in full_html


def test_user_strings_are_escaped(full_html: str) -> None:
    assert HOSTILE_ID not in full_html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in full_html
    assert "<script" not in full_html


def test_missing_data_leaves_plots_out_with_a_note() -> None:
    doc = render_html(bare_verdict())
    _parse(doc)
    assert "data:image/png" not in doc
    assert doc.count("plot omitted") == 4
    assert "the backoff_window check carries no plot data" in doc
    assert "Declared policy" not in doc


def test_malformed_block_is_skipped_alone() -> None:
    v = verdict()
    checks = list(v.checks)
    checks[3] = checks[3].model_copy(
        update={"data": {"attempts": [1, 2], "observed": [5], "expected": [0.5, 0.5]}}
    )
    checks = [c for c in checks if c.name != "jitter_distribution"]
    doc = render_html(v.model_copy(update={"checks": checks}))
    assert len(PNG_URI.findall(doc)) == 2
    assert "attempt_distribution data is malformed" in doc
    assert "no jitter_distribution check in this verdict" in doc


def test_unknown_jitter_distribution_still_draws_histogram() -> None:
    v = verdict()
    only = v.checks[4].model_copy(
        update={"data": {"per_index": {"1": {"delays_s": [0.1, 0.2], "dist": "no_such"}}}}
    )
    doc = render_html(v.model_copy(update={"checks": [only]}))
    assert len(PNG_URI.findall(doc)) == 1


def test_hostile_check_name_in_anchor_is_escaped() -> None:
    v: Verdict = verdict()
    odd = v.checks[1].model_copy(update={"name": '"><img src=x onerror=alert(1)>'})
    doc = render_html(v.model_copy(update={"checks": [odd]}))
    assert "<img src=x" not in doc
    _parse(doc)


def test_importing_the_package_does_not_import_matplotlib() -> None:
    code = (
        "import sys, harness.report\n"
        "assert 'matplotlib' not in sys.modules and 'scipy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_many_indexes_and_empty_samples_render() -> None:
    v = verdict()
    per_index = {
        str(k): {"delays_s": [] if k == 3 else [0.01 * k, float("nan")], "lo_s": 0, "hi_s": k}
        for k in range(1, 15)
    }
    backoff = v.checks[1].model_copy(update={"data": {"per_index": per_index}})
    bad_ci = v.checks[2].model_copy(
        update={"data": {"successes": 5, "n": 10, "expected_p": 0.5, "ci": [0.9, 0.1]}}
    )
    doc = render_html(v.model_copy(update={"checks": [backoff, bad_ci]}))
    assert len(PNG_URI.findall(doc)) == 1
    assert "success_rate data is malformed" in doc
