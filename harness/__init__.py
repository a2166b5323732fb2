"""retry-harness: verify that a system's real retry behaviour matches its declared policy."""

__version__ = "0.1.0"
