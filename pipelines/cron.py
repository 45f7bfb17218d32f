"""One cron syntax for users, translated to each backend's.

Users write standard 5-field unix cron (``minute hour day-of-month month
day-of-week``) or one of ``@hourly``, ``@daily`` (``@midnight``),
``@weekly``, ``@monthly``, ``@yearly`` (``@annually``), with an optional IANA
time zone given apart (``--timezone``). Each field is ``*``, a number, a range
``a-b``, a step ``*/s`` or ``a-b/s``, or a comma-separated list of those;
months and weekdays may also be written as names (``jan``..``dec``,
``sun``..``sat``) and Sunday as ``0`` or ``7``.

The two backends read cron differently:

* Vertex AI Scheduler takes 5 fields, with the time zone as a ``TZ=<zone>``
  prefix;
* KFP recurring runs parse cron with ``github.com/robfig/cron`` (v1): 6 fields,
  **seconds first** (a 5-field string would be read as starting with seconds),
  weekdays ``0-6`` only, evaluated in UTC with no time-zone field.

So the translation normalises what one backend would misread (names become
numbers, Sunday ``7`` becomes ``0``, macros are expanded) and refuses what a
backend cannot express, with a :class:`~kfp_governance.errors.ConfigError`
naming the value and the fix.

>>> to_vertex("0 3 * * mon", timezone="Europe/Berlin")
'TZ=Europe/Berlin 0 3 * * 1'
>>> to_kfp("0 3 * * mon")
'0 0 3 * * 1'
>>> to_kfp("@daily")
'0 0 0 * * *'
>>> to_kfp("0 3 * * 1", timezone="Europe/Berlin")
Traceback (most recent call last):
...
kfp_governance.errors.ConfigError: KFP recurring runs cannot express the time zone 'Europe/Berlin' (--timezone): ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kfp_governance.errors import ConfigError

MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February in a leap year
_UTC = ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/GMT", "GMT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0  # the number of names[0]


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day-of-week", 0, 7, _WEEKDAYS, 0),  # 0 and 7 are both Sunday
)

_QUARTZ = re.compile(r"^(\?|L|LW|L-\d+|\d+W|\d+L|[0-9A-Za-z]+#\d+)$", re.IGNORECASE)
_ELEMENT = re.compile(r"^(?P<range>\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/(?P<step>[^/]*))?$")


@dataclass(frozen=True)
class CronSchedule:
    """A validated schedule: the normalised 5-field expression and the time zone (``None``: UTC).

    >>> schedule = parse_cron("30 2 * * SAT-SUN")
    >>> schedule.expression
    '30 2 * * 6,0'
    >>> schedule.vertex(), schedule.kfp()
    ('30 2 * * 6,0', '0 30 2 * * 6,0')
    """

    expression: str
    timezone: str | None = None
    source: str = ""

    def vertex(self) -> str:
        """Vertex AI Scheduler's cron: 5 fields, ``TZ=<zone> `` first when a zone is set."""
        return f"TZ={self.timezone} {self.expression}" if self.timezone else self.expression

    def kfp(self) -> str:
        """KFP's cron (robfig/cron v1): 6 fields, seconds first, always UTC."""
        if self.timezone and self.timezone not in _UTC:
            raise ConfigError(
                f"KFP recurring runs cannot express the time zone {self.timezone!r} (--timezone): the KFP "
                f"scheduler evaluates cron in UTC and its API has no time-zone field",
                fix=f"write {self.source or self.expression!r} in UTC and omit --timezone (or pass --timezone UTC)")
        return f"0 {self.expression}"


def parse_cron(text: str, timezone: str | None = None) -> CronSchedule:
    """Validate a user's cron string (and time zone) and normalise it.

    Names become numbers, Sunday ``7`` becomes ``0``, macros are expanded and
    repeated spaces collapse; everything else is kept as written.

    >>> parse_cron("@weekly").expression
    '0 0 * * 0'
    >>> parse_cron("*/15 9-17 * jan,jul 1-5").expression
    '*/15 9-17 * 1,7 1-5'
    >>> parse_cron("0 0 * * 5-7").expression
    '0 0 * * 5-6,0'
    >>> parse_cron("61 * * * *")
    Traceback (most recent call last):
    ...
    kfp_governance.errors.ConfigError: invalid cron '61 * * * *' (--cron): minute value 61 is out of range 0-59; ...
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("the cron schedule is empty (--cron)",
                          fix="pass a 5-field cron such as --cron '0 3 * * 1' (Mondays 03:00) or a macro like @daily")
    source = " ".join(text.split())
    zone = _check_timezone(timezone)
    lowered = source.lower()
    if lowered.startswith(("tz=", "cron_tz=")):
        raise ConfigError(f"invalid cron {source!r} (--cron): the time zone goes in --timezone, not in the cron string",
                          fix=f"pass --cron {source.split(' ', 1)[-1]!r} --timezone {source.split(' ', 1)[0].split('=', 1)[1]}")
    if lowered.startswith("@"):
        if lowered not in MACROS:
            hint = ("'@every <duration>' is not cron: write the interval as a step such as '*/30 * * * *'"
                    if lowered.startswith("@every") else
                    "'@reboot' has no meaning for a pipeline schedule" if lowered == "@reboot" else
                    f"the macros are {', '.join(MACROS)}")
            raise ConfigError(f"invalid cron {source!r} (--cron): unknown or unsupported macro", fix=hint)
        return CronSchedule(MACROS[lowered], zone, source)
    fields = source.split(" ")
    if len(fields) != 5:
        if len(fields) == 6:
            fix = ("write standard 5-field cron (minute hour day-of-month month day-of-week); kfp-governance adds "
                   "the seconds field KFP needs, and neither backend schedules below one minute")
        else:
            fix = "write 5 fields: minute hour day-of-month month day-of-week, e.g. '0 3 * * 1'"
        raise ConfigError(f"invalid cron {source!r} (--cron): {len(fields)} fields, expected 5", fix=fix)
    normalised, values = [], []
    for text_field, spec in zip(fields, _FIELDS):
        rendered, matched = _parse_field(text_field, spec, source)
        normalised.append(rendered)
        values.append(matched)
    _check_reachable(source, fields, values)
    return CronSchedule(" ".join(normalised), zone, source)


def to_vertex(text: str, timezone: str | None = None) -> str:
    """Vertex AI Scheduler's cron for a user's cron string.

    >>> to_vertex("@hourly")
    '0 * * * *'
    >>> to_vertex("0 6 1 */3 *", timezone="America/New_York")
    'TZ=America/New_York 0 6 1 */3 *'
    """
    return parse_cron(text, timezone).vertex()


def to_kfp(text: str, timezone: str | None = None) -> str:
    """KFP recurring runs' cron (6 fields, seconds first) for a user's cron string.

    >>> to_kfp("0 3 * * 1")
    '0 0 3 * * 1'
    >>> to_kfp("*/10 * * * *", timezone="UTC")
    '0 */10 * * * *'
    """
    return parse_cron(text, timezone).kfp()


def _check_timezone(timezone: str | None) -> str | None:
    if timezone is None:
        return None
    zone = timezone.strip()
    if not zone:
        raise ConfigError("the time zone is empty (--timezone)", fix="omit --timezone (UTC) or pass an IANA name "
                                                                  "such as Europe/Berlin")
    import zoneinfo

    known = zoneinfo.available_timezones()
    if known:
        if zone not in known:
            close = [name for name in sorted(known) if name.lower() == zone.lower()]
            fix = f"did you mean {close[0]}?" if close else "use an IANA name such as Europe/Berlin or UTC"
            raise ConfigError(f"unknown time zone {zone!r} (--timezone)", fix=fix)
    elif not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*", zone):  # no tz database here
        raise ConfigError(f"invalid time zone {zone!r} (--timezone)", fix="use an IANA name such as Europe/Berlin")
    return zone


def _parse_field(text: str, spec: _Field, source: str) -> tuple[str, set[int]]:
    def fail(problem: str, fix: str) -> ConfigError:
        return ConfigError(f"invalid cron {source!r} (--cron): {problem}", fix=fix)

    usage = f"{spec.name} takes *, a number {spec.low}-{spec.high}, a range a-b, a step */s or a-b/s, or a list"
    if spec.names:
        usage += f" (names {spec.names[0]}-{spec.names[-1]} allowed)"
    rendered: list[str] = []
    matched: set[int] = set()
    for element in text.split(","):
        if _QUARTZ.match(element):
            raise fail(f"{spec.name} {element!r} is Quartz syntax, not standard cron", usage)
        match = _ELEMENT.match(element)
        if not match:
            raise fail(f"{spec.name} element {element!r} is not valid", usage)
        part, step_text = match.group("range"), match.group("step")
        step = None
        if step_text is not None:
            if not step_text.isdigit() or int(step_text) == 0:
                raise fail(f"{spec.name} step {step_text!r} in {element!r} is not a positive number", usage)
            step = int(step_text)
        if part == "*":
            low, high, star = spec.low, (6 if spec.name == "day-of-week" else spec.high), True
        else:
            star = False
            ends = part.split("-")
            low = _value(ends[0], spec, element, fail, usage)
            high = _value(ends[1], spec, element, fail, usage) if len(ends) == 2 else low
            if len(ends) == 1 and step is not None:
                raise fail(f"{spec.name} {element!r}: a step needs a range ('N/step' is not standard cron)",
                           f"write {ends[0]}-{spec.high}/{step}")
            if spec.name == "day-of-week" and len(ends) == 2 and high == 0 and low > 0:
                high = 7  # 'sat-sun', 'mon-sun': Sunday closes the week
            if low > high:
                top = 6 if spec.name == "day-of-week" else spec.high
                pieces = [f"{a}-{b}" if a < b else str(a) for a, b in ((low, top), (spec.low, high))]
                raise fail(f"{spec.name} range {element!r} runs backwards",
                           f"write it as a list: '{','.join(pieces)}'")
        if step is not None and step > high - low:
            span = spec.high - spec.low + 1
            raise fail(f"{spec.name} step {step} in {element!r} leaves only one value, so it cannot mean "
                       f"'every {step} {spec.name.split('-')[0]}s'", f"cron steps repeat within the {spec.name} "
                       f"range ({span} values): use a step below {high - low + 1}, or a list of values")
        values = set(range(low, high + 1, step or 1))
        matched |= {0 if (spec.name == "day-of-week" and v == 7) else v for v in values}
        rendered.extend(_render(element, part, low, high, step, star, spec))
    unique = list(dict.fromkeys(rendered))
    return ",".join(unique), matched


def _value(token: str, spec: _Field, element: str, fail, usage: str) -> int:
    if token.isdigit():
        number = int(token)
    elif spec.names and token.lower() in spec.names:
        number = spec.names.index(token.lower()) + spec.name_base
    else:
        raise fail(f"{spec.name} value {token!r} in {element!r} is not a number"
                   + (" or a name" if spec.names else ""), usage)
    if not spec.low <= number <= spec.high:
        raise fail(f"{spec.name} value {number} is out of range {spec.low}-{spec.high}", usage)
    return number


def _render(element: str, part: str, low: int, high: int, step: int | None, star: bool, spec: _Field) -> list[str]:
    """The element as both backends read it: numbers for names, Sunday as 0."""
    suffix = f"/{step}" if step else ""
    if star:
        return [f"*{suffix}"]
    if spec.name == "day-of-week" and high == 7:
        if step:
            return [str(0 if v == 7 else v) for v in range(low, high + 1, step)]
        if low == 7:
            return ["0"]
        return [f"{low}-6" if low < 6 else "6", "0"]
    if low == high and not step:
        return [str(low)]
    return [f"{low}-{high}{suffix}"]


def _check_reachable(source: str, fields: list[str], values: list[set[int]]) -> None:
    """Refuse a day-of-month the chosen months never have (e.g. 30 February) when weekdays are unrestricted."""
    day_restricted = not fields[2].startswith("*")
    weekday_restricted = not fields[4].startswith("*")
    if day_restricted and not weekday_restricted:
        longest = max(_DAYS_IN_MONTH[m - 1] for m in values[3])
        if min(values[2]) > longest:
            raise ConfigError(f"invalid cron {source!r} (--cron): day-of-month {fields[2]} never occurs in month "
                              f"{fields[3]}, so the schedule would never run",
                              fix="choose a day that exists in those months")
