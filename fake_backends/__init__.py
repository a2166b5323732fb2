"""Flaky Flask backends: seeded per-attempt faults, a complete attempt journal, an admin API."""
