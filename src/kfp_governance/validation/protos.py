"""Read and write the validation artifacts: statistics, schema, anomalies.

Formats (chosen to match what TFX writes, so TFX and TFDV tools read ours):

- statistics: a binary ``DatasetFeatureStatisticsList`` (TFX StatisticsGen's
  ``FeatureStats.pb``); read it with ``tfdv.load_stats_binary(path)``.
  Baseline statistics may be binary, a one-record TFRecord (what
  ``tfdv.generate_statistics_from_csv`` writes), or text format; a folder
  laid out as TFX's ``Split-train/FeatureStats.pb`` works too;
- schema: text format (``tfdv.write_schema_text`` / ``tfdv.load_schema_text``);
- anomalies: JSON (see :mod:`kfp_governance.executors.validate_data`).

These functions use the protobuf classes of ``tensorflow_metadata`` only, so
they do not pay TFDV's import time.
"""

from __future__ import annotations

import contextlib
import json
import struct
from pathlib import Path
from typing import Any

from kfp_governance.errors import ConfigError, DataError
from kfp_governance.sources import open_source, source_size

_TFX_STATS_FILES = ("Split-train/FeatureStats.pb", "FeatureStats.pb")


def _read_bytes(uri: str, what: str) -> bytes:
    """All bytes at ``uri``; a missing file is a :class:`ConfigError` naming ``what``."""
    try:
        source_size(uri, what=what)
    except DataError as err:
        raise ConfigError(err.what, fix=err.fix) from None
    with open_source(uri) as stream:
        return stream.read()


def _resolve_stats_file(uri: str, what: str) -> str:
    if "://" in uri or not Path(uri).is_dir():
        return uri
    for name in _TFX_STATS_FILES:
        if (Path(uri) / name).is_file():
            return str(Path(uri) / name)
    raise ConfigError(f"{what} {uri!r} is a folder without {' or '.join(_TFX_STATS_FILES)}",
                      fix=f"point {what} at the statistics file a previous validate_data run wrote")


def _tfrecord_payload(data: bytes) -> bytes | None:
    """The payload of a one-record TFRecord file, or None if ``data`` is not one."""
    if len(data) < 16:
        return None
    (length,) = struct.unpack("<Q", data[:8])
    if 12 + length + 4 != len(data):
        return None
    return data[12:12 + length]


def parse_statistics(data: bytes):
    """Parse statistics bytes in any of the accepted formats; None if none of them fits."""
    from google.protobuf import text_format
    from google.protobuf.message import DecodeError
    from tensorflow_metadata.proto.v0 import statistics_pb2

    candidates = []
    payload = _tfrecord_payload(data)
    if payload is not None:
        candidates.append(("binary", payload))
    candidates.append(("binary", data))
    with contextlib.suppress(UnicodeDecodeError):
        candidates.insert(0, ("text", data.decode("utf-8")))
    for kind, content in candidates:
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        try:
            if kind == "text":
                text_format.Parse(content, stats)
            else:
                stats.ParseFromString(content)
        except (text_format.ParseError, DecodeError, RuntimeError, ValueError):
            continue
        if stats.datasets and stats.datasets[0].num_examples > 0 and stats.datasets[0].features:
            return stats
    return None


def load_statistics(uri: str, what: str):
    """Load a ``DatasetFeatureStatisticsList``; :class:`ConfigError` if missing or not statistics."""
    uri = _resolve_stats_file(uri, what)
    stats = parse_statistics(_read_bytes(uri, what))
    if stats is None:
        raise ConfigError(
            f"{what} {uri!r} is not TFDV statistics (tried binary, TFRecord and text "
            "DatasetFeatureStatisticsList with at least one example)",
            fix=f"point {what} at the train statistics file of an earlier validate_data run",
        )
    return stats


def load_schema(uri: str, what: str = "schema_uri"):
    """Load a TFDV schema in text format; :class:`ConfigError` if missing, unparsable or empty."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    data = _read_bytes(uri, what)
    schema = schema_pb2.Schema()
    try:
        text_format.Parse(data.decode("utf-8"), schema)
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {uri!r} is not a text file",
                          fix="write the schema as text (tfdv.write_schema_text)") from None
    except text_format.ParseError as err:
        raise ConfigError(f"{what} {uri!r} is not a TFDV schema: {err}",
                          fix="correct the schema's text format or regenerate it with tfdv.write_schema_text") from None
    if not schema.feature:
        raise ConfigError(f"{what} {uri!r} describes no features",
                          fix="use a schema written by validate_data or tfdv.write_schema_text")
    return schema


def _ensure_parent(path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_statistics(stats, path: str | Path) -> None:
    """Write a ``DatasetFeatureStatisticsList`` as binary proto (``tfdv.load_stats_binary`` reads it)."""
    _ensure_parent(path).write_bytes(stats.SerializeToString())


def write_schema(schema, path: str | Path) -> None:
    """Write a schema as text proto, as ``tfdv.write_schema_text`` does."""
    from google.protobuf import text_format

    _ensure_parent(path).write_text(text_format.MessageToString(schema), encoding="utf-8")


def write_json(document: dict[str, Any], path: str | Path) -> None:
    """Write ``document`` as indented UTF-8 JSON."""
    _ensure_parent(path).write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def schema_features(schema, limit: int = 20) -> list[dict[str, Any]]:
    """Each feature of a TFDV schema as plain data, for evidence and the model card.

    ``presence`` is the required fraction of rows with a value; ``domain``
    lists up to ``limit`` allowed values (string domains) or the range
    (``int_domain``/``float_domain``), ``domain_size`` how many there are.

    >>> from tensorflow_metadata.proto.v0 import schema_pb2
    >>> schema = schema_pb2.Schema()
    >>> feature = schema.feature.add(name="city", type=schema_pb2.BYTES, domain="city")
    >>> feature.presence.min_fraction = 1.0
    >>> schema.string_domain.add(name="city", value=["Oslo", "Lima"])  # doctest: +ELLIPSIS
    name: "city"...
    >>> schema_features(schema)
    [{'name': 'city', 'type': 'BYTES', 'presence': 1.0, 'domain': ['Oslo', 'Lima'], 'domain_size': 2}]
    """
    from tensorflow_metadata.proto.v0 import schema_pb2

    domains = {d.name: list(d.value) for d in schema.string_domain}
    out = []
    for feature in schema.feature:
        values: list[Any] | None = None
        if feature.HasField("string_domain"):
            values = list(feature.string_domain.value)
        elif feature.domain:
            values = domains.get(feature.domain)
        elif feature.HasField("int_domain"):
            bounds = feature.int_domain
            values = [bounds.min if bounds.HasField("min") else None, bounds.max if bounds.HasField("max") else None]
        elif feature.HasField("float_domain"):
            bounds = feature.float_domain
            values = [bounds.min if bounds.HasField("min") else None, bounds.max if bounds.HasField("max") else None]
        is_range = feature.HasField("int_domain") or feature.HasField("float_domain")
        out.append({
            "name": feature.name,
            "type": schema_pb2.FeatureType.Name(feature.type),
            "presence": float(feature.presence.min_fraction) if feature.HasField("presence") else None,
            "domain": None if values is None else values[:limit],
            "domain_size": None if values is None or is_range else len(values),
        })
    return out
