"""Container image names shared by the docker and kind substrates (one place for each)."""

from __future__ import annotations

from harness import __version__

BACKEND_IMAGE = "retry-harness-backend"
"""The flaky-backend image (it also carries the harness and Locust); tagged with the version."""

BACKEND_TAG = __version__


def backend_image_ref() -> str:
    """``retry-harness-backend:<package version>``: never ``latest`` (kind would try to pull it)."""
    return f"{BACKEND_IMAGE}:{BACKEND_TAG}"
