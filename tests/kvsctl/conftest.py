"""Fixtures of the kvsctl tests."""
from tests.kvsctl.scripted import scripted  # noqa: F401 (a fixture, made visible to every test here)
