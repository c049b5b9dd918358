"""The pure parts of the limits: blocks, tallies, the quota's day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import HttpUrl

from worker.limits.gate import Tally, next_day
from worker.limits.gatekeeper import block_of, is_limited
from worker.limits.ledger import Shared
from worker.partners.agreement import Breaker, DailyQuota, OpeningHours, RateLimit
from worker.partners.config import PartnerConfig

NOW = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)  # 23:30 in Paris


def _config(**limits: object) -> PartnerConfig:
    return PartnerConfig.model_validate({"base_url": HttpUrl("http://oc.example"), **limits})


def _shared(**values: object) -> Shared:
    fields: dict[str, object] = {
        "now": NOW,
        "quota_day": None,
        "quota_used": 0,
        "failures": 0,
        "breaker_until": None,
    }
    return Shared(**(fields | values))  # type: ignore[arg-type]


def test_an_oc_without_conditions_is_never_held() -> None:
    assert not is_limited(_config())
    assert block_of(_config(), _shared()) is None


def test_the_quota_holds_until_midnight_in_its_zone() -> None:
    config = _config(quota=DailyQuota(calls=10))
    today = NOW.astimezone(config.quota.zone).date()  # type: ignore[union-attr]
    block = block_of(config, _shared(quota_day=today, quota_used=10))
    assert block is not None
    assert block.reason == "quota"
    assert block.until == datetime(2026, 11, 24, tzinfo=config.quota.zone)  # type: ignore[union-attr]
    # Yesterday's count does not hold today.
    assert block_of(config, _shared(quota_day=today - timedelta(days=1), quota_used=10)) is None


def test_hours_come_first_then_quota_then_breaker() -> None:
    config = _config(
        hours=OpeningHours(open=["daily 08:00-20:00"]),
        breaker=Breaker(failures=3),
    )
    block = block_of(config, _shared(breaker_until=NOW + timedelta(minutes=1)))
    assert block is not None
    assert block.reason == "hours"
    open_config = _config(breaker=Breaker(failures=3))
    block = block_of(open_config, _shared(breaker_until=NOW + timedelta(minutes=1)))
    assert block is not None
    assert block.reason == "breaker"


def test_a_tally_keeps_the_failures_after_the_last_answer() -> None:
    tally = Tally()
    for answered in (False, False, True, False):
        tally.add(answered)
    assert tally.take() == Tally(answered=True, failures=1)
    assert tally == Tally()


def test_next_day_and_rate_defaults() -> None:
    assert next_day(NOW, UTC) == datetime(2026, 11, 24, tzinfo=UTC)
    assert RateLimit(per_second=2.5).capacity == 3
    assert RateLimit(per_second=5, burst=1).capacity == 1


def test_the_partners_file_takes_the_tables(tmp_path: Path) -> None:
    config = _config(
        rate={"per_second": 5},
        quota={"calls": 20000, "timezone": "Europe/Paris"},
        hours={"closed": ["3rd sat 16:00-22:00"]},
        breaker={"failures": 5, "cooldown": "2m"},
        spread="10m",
    )
    assert config.breaker is not None
    assert config.breaker.cooldown == timedelta(minutes=2)
    assert config.spread == timedelta(minutes=10)


def test_a_breaker_taken_out_of_the_file_while_open_no_longer_holds() -> None:
    # Nothing would ever close it: no tally is kept for an OC without a breaker.
    shared = _shared(breaker_until=NOW + timedelta(minutes=1))
    assert block_of(_config(quota=DailyQuota(calls=10)), shared) is None
