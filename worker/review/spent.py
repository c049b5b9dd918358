"""The CPU time the review processes spent on each check of one review, as they measured it.

A review process times each check it runs (`decoding.timed`: its own CPU time, every thread
of it, the OCR's included) and sends the figure back with the result. The reviewer adds each one
to the `worker_review_check_cpu_seconds{check}` histogram as it comes back, and the review's
totals to its summary log line. CPU time, not wall time: other programs on the machine, and the
other review processes, do not count.
"""

from __future__ import annotations

from prometheus_client import Histogram


class CpuSpent:
    """One review's tally, by check: `traits`, `pto_reference`, `same_spot`."""

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._seconds: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def add(self, check: str, seconds: float) -> None:
        self._histogram.labels(check).observe(seconds)
        self._seconds[check] = self._seconds.get(check, 0.0) + seconds
        self._counts[check] = self._counts.get(check, 0) + 1

    def summary(self) -> dict[str, object]:
        """For the log line: each check's runs and its total CPU in milliseconds."""
        return {
            "cpu_ms": {check: round(1000 * seconds, 1) for check, seconds in self._seconds.items()},
            "checks_run": dict(self._counts),
        }
