"""Drivers that start systems under test on 127.0.0.1 in front of the flaky backends.

Entry points live in ``harness.suts.base``: ``start_sut`` (a context manager yielding a
``RunningSut``) and ``missing_binary``. The ``sut:`` models and placeholder rules are in
``harness.suts.spec``; the filling of placeholders in ``harness.suts.templating``.
"""
