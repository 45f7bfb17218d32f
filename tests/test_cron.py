"""One cron syntax for users, translated to Vertex AI Scheduler's (5 fields, TZ= prefix) and KFP's (6 fields).

The translations are checked two ways: against a table of expected strings,
and by meaning. For the second, this file carries its own small evaluators of
standard (vixie) cron and of robfig/cron v1 as KFP's scheduler parses it, and
checks that the user's string and the translation fire on the same days and
at the same times over two years.
"""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import run_cli

from kfp_governance.errors import ConfigError
from kfp_governance.pipelines.cron import parse_cron, to_kfp, to_vertex

# user cron -> (Vertex AI, KFP)
TRANSLATIONS = [
    ("0 3 * * 1", "0 3 * * 1", "0 0 3 * * 1"),
    ("*/15 * * * *", "*/15 * * * *", "0 */15 * * * *"),
    ("0 9-17 * * 1-5", "0 9-17 * * 1-5", "0 0 9-17 * * 1-5"),
    ("30 2 1,15 * *", "30 2 1,15 * *", "0 30 2 1,15 * *"),
    ("0 0 1 */3 *", "0 0 1 */3 *", "0 0 0 1 */3 *"),
    ("0 6 * jan,jul mon", "0 6 * 1,7 1", "0 0 6 * 1,7 1"),
    ("0 6 * JAN-MAR MON-FRI", "0 6 * 1-3 1-5", "0 0 6 * 1-3 1-5"),
    ("0 0 * * 7", "0 0 * * 0", "0 0 0 * * 0"),
    ("0 0 * * 0,7", "0 0 * * 0", "0 0 0 * * 0"),
    ("0 0 * * 5-7", "0 0 * * 5-6,0", "0 0 0 * * 5-6,0"),
    ("0 0 * * sat-sun", "0 0 * * 6,0", "0 0 0 * * 6,0"),
    ("0 0 * * 1-7/2", "0 0 * * 1,3,5,0", "0 0 0 * * 1,3,5,0"),
    ("0 12 10-20/5 * *", "0 12 10-20/5 * *", "0 0 12 10-20/5 * *"),
    ("0  3   *  * 1", "0 3 * * 1", "0 0 3 * * 1"),
    ("@hourly", "0 * * * *", "0 0 * * * *"),
    ("@daily", "0 0 * * *", "0 0 0 * * *"),
    ("@midnight", "0 0 * * *", "0 0 0 * * *"),
    ("@weekly", "0 0 * * 0", "0 0 0 * * 0"),
    ("@monthly", "0 0 1 * *", "0 0 0 1 * *"),
    ("@yearly", "0 0 1 1 *", "0 0 0 1 1 *"),
    ("@annually", "0 0 1 1 *", "0 0 0 1 1 *"),
]


@pytest.mark.parametrize("user, vertex, kfp", TRANSLATIONS)
def test_translation_table(user, vertex, kfp):
    assert to_vertex(user) == vertex
    assert to_kfp(user) == kfp
    assert len(to_vertex(user).split()) == 5
    assert len(to_kfp(user).split()) == 6 and to_kfp(user).split()[0] == "0"


def test_vertex_gets_the_time_zone_as_a_prefix():
    assert to_vertex("0 3 * * 1", timezone="Europe/Berlin") == "TZ=Europe/Berlin 0 3 * * 1"
    assert to_vertex("@daily", timezone="America/New_York") == "TZ=America/New_York 0 0 * * *"
    assert to_vertex("0 3 * * 1") == "0 3 * * 1"  # no zone: Vertex's default, UTC


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC"])
def test_kfp_accepts_utc_explicitly(zone):
    assert to_kfp("0 3 * * 1", timezone=zone) == "0 0 3 * * 1"


def test_kfp_cannot_express_another_time_zone():
    with pytest.raises(ConfigError) as err:
        to_kfp("0 3 * * 1", timezone="Europe/Berlin")
    message = str(err.value)
    assert "'Europe/Berlin'" in message and "--timezone" in message and "UTC" in message
    assert to_vertex("0 3 * * 1", timezone="Europe/Berlin")  # the same schedule is fine on Vertex


INVALID = [
    # (cron, words the message must contain)
    ("", ["empty", "--cron"]),
    ("* * * *", ["4 fields", "expected 5"]),
    ("0 0 3 * * 1", ["6 fields", "seconds"]),
    ("61 * * * *", ["minute value 61", "0-59"]),
    ("0 24 * * *", ["hour value 24", "0-23"]),
    ("0 0 0 * *", ["day-of-month value 0", "1-31"]),
    ("0 0 32 * *", ["day-of-month value 32"]),
    ("0 0 * 13 *", ["month value 13", "1-12"]),
    ("0 0 * * 8", ["day-of-week value 8", "0-7"]),
    ("0 0 * foo *", ["month value 'foo'", "names jan-dec"]),
    ("0 0 * * funday", ["day-of-week value 'funday'"]),
    ("a * * * *", ["minute value 'a'"]),
    ("1-2-3 * * * *", ["minute element '1-2-3'"]),
    ("*/0 * * * *", ["step '0'"]),
    ("5/10 * * * *", ["'5/10'", "5-59/10"]),
    ("0 0 * * fri-mon", ["runs backwards", "5-6,0-1"]),
    ("0 0 * 11-2 *", ["runs backwards", "11-12,1-2"]),
    ("0 0 L * *", ["Quartz"]),
    ("0 0 ? * 1", ["Quartz"]),
    ("0 0 * * 5#2", ["Quartz"]),
    ("0 0 * * 5L", ["Quartz"]),
    ("@every 1h", ["@every", "*/30"]),
    ("@reboot", ["@reboot"]),
    ("@fortnightly", ["macro", "@hourly"]),
    ("TZ=Europe/Paris 0 3 * * *", ["--timezone Europe/Paris", "'0 3 * * *'"]),
]


@pytest.mark.parametrize("cron, words", INVALID)
def test_invalid_cron_names_the_value_and_the_fix(cron, words):
    with pytest.raises(ConfigError) as err:
        parse_cron(cron)
    message = str(err.value)
    assert "fix:" in message
    for word in words:
        assert word in message, message
    if cron.strip():
        assert repr(" ".join(cron.split())) in message


CANNOT_EXPRESS = [
    # valid-looking strings no backend runs as the user means them
    ("*/90 * * * *", ["step 90", "every 90 minutes"]),
    ("0 */36 * * *", ["step 36", "hour"]),
    ("0 0 30 2 *", ["never occurs", "never run"]),
    ("0 0 31 4,6,9,11 *", ["never occurs"]),
]


@pytest.mark.parametrize("cron, words", CANNOT_EXPRESS)
def test_schedules_cron_cannot_express_are_refused(cron, words):
    with pytest.raises(ConfigError) as err:
        parse_cron(cron)
    for word in words:
        assert word in str(err.value), str(err.value)


def test_weekday_day_of_month_either_is_kept():
    # Both restricted: standard cron (and robfig) fire when either matches; nothing to refuse.
    assert to_kfp("0 0 31 2 1") == "0 0 0 31 2 1"


@pytest.mark.parametrize("zone, words", [("Mars/Olympus", ["unknown time zone 'Mars/Olympus'"]),
                                         ("europe/berlin", ["did you mean Europe/Berlin"]),
                                         ("  ", ["time zone is empty"])])
def test_bad_time_zones(zone, words):
    with pytest.raises(ConfigError) as err:
        to_vertex("0 3 * * 1", timezone=zone)
    for word in words:
        assert word in str(err.value)


# -- meaning: the translation fires when the user's cron fires ------------------------------------------------------

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _vixie_field(text, low, high, names=(), base=0, sunday_seven=False):
    """(values, star) of one field of standard cron."""
    values = set()
    for element in text.split(","):
        part, _, step = element.partition("/")
        step = int(step) if step else 1
        if part == "*":
            a, b = low, high
        else:
            ends = [names.index(e.lower()) + base if e.lower() in names else int(e) for e in part.split("-")]
            a, b = ends[0], ends[-1]
            if sunday_seven and len(ends) == 2 and b == 0 and a > 0:
                b = 7
        values |= set(range(a, b + 1, step))
    if sunday_seven:
        values = {0 if v == 7 else v for v in values}
    return values, text.startswith("*")


def _robfig_field(text, low, high):
    """(values, star) of one field as robfig/cron v1's getField reads it (numbers only, as we send)."""
    values, star = set(), False
    for element in text.split(","):
        part, _, step = element.partition("/")
        ends = part.split("-")
        if ends[0] in ("*", "?"):
            a, b, star = low, high, True
        else:
            a = b = int(ends[0])
            if len(ends) == 2:
                b = int(ends[1])
            elif step:
                b = high  # robfig: "N/step" means "N-max/step"
        if a < low or b > high or a > b:
            raise ValueError(f"robfig/cron rejects {element!r} (bounds {low}-{high})")
        values |= set(range(a, b + 1, int(step) if step else 1))
    return values, star


def _vixie(expression):
    minute, hour, dom, month, dow = expression.split()
    return {
        "minute": _vixie_field(minute, 0, 59), "hour": _vixie_field(hour, 0, 23), "dom": _vixie_field(dom, 1, 31),
        "month": _vixie_field(month, 1, 12, _MONTHS, 1), "dow": _vixie_field(dow, 0, 7, _DAYS, 0, True),
    }


def _robfig(expression):
    second, minute, hour, dom, month, dow = expression.split()
    return {
        "second": _robfig_field(second, 0, 59), "minute": _robfig_field(minute, 0, 59),
        "hour": _robfig_field(hour, 0, 23), "dom": _robfig_field(dom, 1, 31),
        "month": _robfig_field(month, 1, 12), "dow": _robfig_field(dow, 0, 6),
    }


def _fires_on(fields, day: dt.date) -> bool:
    (doms, dom_star), (dows, dow_star) = fields["dom"], fields["dow"]
    weekday = (day.weekday() + 1) % 7  # cron: Sunday is 0
    if day.month not in fields["month"][0]:
        return False
    if dom_star or dow_star:
        return day.day in doms and weekday in dows
    return day.day in doms or weekday in dows


def _days(fields):
    start = dt.date(2024, 1, 1)
    return [start + dt.timedelta(days=i) for i in range(731) if _fires_on(fields, start + dt.timedelta(days=i))]


MEANING = [user for user, _, _ in TRANSLATIONS] + ["0 0 13 * 5", "0 0 */2 * 1", "15 4 1-7 * 1", "0 0 1 1 mon-sun"]


@pytest.mark.parametrize("user", MEANING)
def test_kfp_translation_fires_when_the_user_cron_fires(user):
    expression = parse_cron(user).expression
    wanted, sent = _vixie(expression if user.startswith("@") else user), _robfig(to_kfp(user))
    assert sent["second"][0] == {0}
    assert sent["minute"][0] == wanted["minute"][0] and sent["hour"][0] == wanted["hour"][0]
    assert _days(sent) == _days(wanted)


@pytest.mark.parametrize("user", MEANING)
def test_vertex_translation_fires_when_the_user_cron_fires(user):
    wanted = _vixie(parse_cron(user).expression if user.startswith("@") else user)
    sent = _vixie(to_vertex(user))
    assert sent["minute"][0] == wanted["minute"][0] and sent["hour"][0] == wanted["hour"][0]
    assert _days(sent) == _days(wanted)


def test_robfig_would_reject_sunday_as_seven_which_is_why_it_is_normalised():
    with pytest.raises(ValueError):
        _robfig("0 0 0 * * 7")
    _robfig(to_kfp("0 0 * * 7"))


def test_a_five_field_string_would_mean_something_else_to_kfp():
    # robfig/cron v1 reads a 5-field string as seconds-first with no weekday: "0 3 * * 1" would fire
    # at second 0 of minute 3 of every hour in January; the translation adds the seconds field.
    misread = _robfig("0 3 * * 1 *")
    assert misread["minute"][0] == {3} and misread["hour"][0] == set(range(24))
    assert _robfig(to_kfp("0 3 * * 1"))["hour"][0] == {3}


# -- the CLI: bad cron strings end in one line and exit 2, before anything is compiled or sent -----------------------

def test_cli_rejects_an_invalid_cron(tmp_path):
    result = run_cli("schedule", "--target", "vertex", "--config", str(tmp_path / "unused.yaml"),
                     "--cron", "0 25 * * *", "--project", "p", "--region", "europe-west4",
                     "--pipeline-root", "gs://b/root", "--service-account", "r@p.iam.gserviceaccount.com")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "invalid cron '0 25 * * *'" in result.stderr and "hour value 25" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_rejects_a_cron_the_backend_cannot_express(tmp_path):
    result = run_cli("schedule", "--target", "kubeflow", "--config", str(tmp_path / "unused.yaml"),
                     "--cron", "0 3 * * 1", "--timezone", "Europe/Berlin", "--endpoint", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "KFP recurring runs cannot express the time zone 'Europe/Berlin'" in result.stderr
    assert "Traceback" not in result.stderr
