"""assert_fits(): a budget check that raises, for tests (see pytest_plugin for the marker)."""

from __future__ import annotations

from pathlib import Path

from .pipeline import check
from .records import Limits, Report
from .report import format_layers, format_summary, format_violations


class BudgetExceeded(AssertionError):
    """A model breaks a device budget; the message holds the violation and layer tables."""

    def __init__(self, report: Report):
        self.report = report
        super().__init__(f"{report.model} does not fit {report.device.name}\n"
                         f"{format_violations(report.violations)}\n\n{format_summary(report)}\n\n"
                         f"{format_layers(report)}")


def assert_fits(model: str | Path | bytes, device: str = "stm32h743", *,
                latency_ms: float | None = None, ram_kb: int | None = None,
                flash_kb: int | None = None, kernels: str | None = None) -> Report:
    """Check `model` on `device`; raise BudgetExceeded on any violation, else return the report."""
    report = check(model, device, Limits(latency_ms=latency_ms,
                                         ram_bytes=ram_kb * 1024 if ram_kb else None,
                                         flash_bytes=flash_kb * 1024 if flash_kb else None),
                   kernels)
    if not report.fits:
        raise BudgetExceeded(report)
    return report
