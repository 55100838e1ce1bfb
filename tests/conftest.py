"""Shared pytest hooks: remember each test's outcome so fixtures can dump server logs on failure."""
from __future__ import annotations

import pytest


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
