"""pytest plugin (entry point `pytest11`): budget checks as test assertions.

    from firmware_sim import assert_fits
    def test_kws_fits():
        assert_fits("kws.tflite", device="stm32h743", latency_ms=50)

    @pytest.mark.edgesim_budget("kws.tflite", device="stm32h743", ram_kb=256)
    def test_kws(): ...

A violation fails the test with the violation table, the summary and the per-layer table.
"""

from __future__ import annotations

import pytest

from .assertions import BudgetExceeded, assert_fits


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "edgesim_budget(model, device='stm32h743', latency_ms=None, ram_kb=None, "
        "flash_kb=None, kernels=None): fail the test if the model breaks a budget")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    for mark in item.iter_markers("edgesim_budget"):
        try:
            assert_fits(*mark.args, **mark.kwargs)
            failure = None
        except BudgetExceeded as exc:
            failure = str(exc)
        if failure:      # failed outside the handler: one message, no chained exception
            pytest.fail(failure, pytrace=False)
