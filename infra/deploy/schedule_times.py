"""When an EventBridge Scheduler schedule runs next: ``rate()`` and ``cron()``.

``rate(N unit)``: every period from the schedule's start (EventBridge Scheduler User
Guide, "Rate-based schedules": the first run is when the schedule is created, or its
StartDate).

``cron(minutes hours day-of-month month day-of-week year)``: six fields (EventBridge
Scheduler User Guide, "Cron-based schedules", which points at the EventBridge cron
reference): minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC,
day-of-week 1-7 or SUN-SAT (1 is Sunday), year 1970-2199; ``,`` lists, ``-`` ranges,
``*`` every value, ``/`` increments (``1/10``: 1, 11, 21...), ``?`` any (one of
day-of-month and day-of-week must be ``?``). Times are in the schedule's
``ScheduleExpressionTimezone`` (UTC when it has none). ``L``, ``W`` and ``#`` (last day,
nearest weekday, nth weekday) are not evaluated: ``CannotPredict`` says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["CannotPredict", "next_run", "next_cron_run", "next_rate_run"]

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_YEARS_AHEAD = 5  # far enough for any schedule that runs at all; then "not within"


class CannotPredict(ValueError):
    """The expression is one this module does not evaluate; the message says why."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


_FIELDS = (
    _Field("minutes", 0, 59),
    _Field("hours", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 1, 7, _DAYS),
    _Field("year", 1970, 2199),
)


def next_run(
    expression: str, start: datetime, now: datetime, timezone: str | None = None
) -> datetime:
    """The first run after ``now`` (UTC); ``CannotPredict`` for what is not evaluated."""
    if expression.startswith("rate("):
        return next_rate_run(expression, start, now)
    if expression.startswith("cron("):
        return next_cron_run(expression, now, timezone)
    raise CannotPredict(f"{expression}: only rate() and cron() schedules are predicted")


def next_rate_run(expression: str, start: datetime, now: datetime) -> datetime:
    match = _RATE.match(expression)
    if match is None:
        raise CannotPredict(f"{expression} is not a rate(N minutes|hours|days) expression")
    period = timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2).rstrip("s")])
    if now < start:
        return start
    elapsed = (now - start) // period
    return start + (elapsed + 1) * period


def next_cron_run(expression: str, now: datetime, timezone: str | None = None) -> datetime:
    match = _CRON.match(expression)
    fields = match.group(1).split() if match else []
    if len(fields) != len(_FIELDS):
        raise CannotPredict(
            f"{expression}: a cron() expression has six fields (minutes hours day-of-month "
            "month day-of-week year)"
        )
    try:
        zone = ZoneInfo(timezone) if timezone else UTC
    except ZoneInfoNotFoundError as exc:
        raise CannotPredict(f"time zone {timezone!r} is not known here") from exc
    minutes, hours, days, months, weekdays, years = (
        _values(text, spec) for text, spec in zip(fields, _FIELDS, strict=True)
    )
    if days is None and weekdays is None:
        raise CannotPredict(f"{expression}: day-of-month or day-of-week must be given")
    local_now = now.astimezone(zone)
    for day in _days_from(local_now.date()):
        if day.year not in (years or range(1970, 2200)) or day.month not in (months or ()):
            continue
        weekday = (day.weekday() + 1) % 7 + 1  # Python: Monday 0; cron: Sunday 1
        if days is not None and day.day not in days:
            continue
        if weekdays is not None and weekday not in weekdays:
            continue
        for hour in sorted(hours or ()):
            for minute in sorted(minutes or ()):
                at = datetime.combine(day, time(hour, minute), tzinfo=zone)
                if at > local_now:
                    return at.astimezone(UTC)
    raise CannotPredict(f"{expression}: no run within {_YEARS_AHEAD} years")


def _days_from(first: date) -> Iterator[date]:
    for offset in range(366 * _YEARS_AHEAD):
        yield first + timedelta(days=offset)


def _values(text: str, spec: _Field) -> frozenset[int] | None:
    """The values ``text`` allows; None for ``?`` (any, for the day fields)."""
    if text == "?":
        if spec.name not in ("day-of-month", "day-of-week"):
            raise CannotPredict(
                f"? is allowed only in day-of-month and day-of-week, not {spec.name}"
            )
        return None
    if any(mark in text for mark in ("L", "W", "#")) and not _only_names(text, spec):
        raise CannotPredict(
            f"{spec.name} {text!r}: the L, W and # wildcards are not evaluated here"
        )
    found: set[int] = set()
    for part in text.split(","):
        found |= _part(part, spec)
    return frozenset(found)


def _only_names(text: str, spec: _Field) -> bool:
    """``text`` holds L/W/# only inside month or day names (``JUL``, ``WED``)."""
    stripped = text
    for name in spec.names:
        stripped = stripped.replace(name, "")
    return not any(mark in stripped for mark in ("L", "W", "#"))


def _part(part: str, spec: _Field) -> set[int]:
    body, _, step_text = part.partition("/")
    step = _number(step_text, spec) if step_text else 1
    if step_text and step < 1:
        raise CannotPredict(f"{spec.name} {part!r}: the increment must be at least 1")
    if body == "*":
        low, high = spec.low, spec.high
    elif "-" in body:
        first, _, last = body.partition("-")
        low, high = _value(first, spec), _value(last, spec)
    else:
        low = _value(body, spec)
        high = spec.high if step_text else low  # "1/10": from 1, every 10
    if low > high:
        raise CannotPredict(f"{spec.name} {part!r}: the range runs backwards")
    return set(range(low, high + 1, step))


def _value(text: str, spec: _Field) -> int:
    upper = text.upper()
    if upper in spec.names:
        return spec.names.index(upper) + spec.low
    value = _number(text, spec)
    if not spec.low <= value <= spec.high:
        raise CannotPredict(f"{spec.name} {text!r} is outside {spec.low}-{spec.high}")
    return value


def _number(text: str, spec: _Field) -> int:
    if not text.isdigit():
        raise CannotPredict(f"{spec.name} {text!r} is not a number")
    return int(text)
