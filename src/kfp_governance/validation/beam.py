"""TFDV statistics on Apache Beam, for data that outgrows one machine.

``runner`` is any Beam runner name; ``beam_options`` are Beam pipeline flags
(``"--flag=value"`` strings) passed through unchanged. Parquet splits are read
with ``beam.io.ReadFromParquetBatched`` and converted to TFDV's list columns
by the same function as the in-process path, then ``tfdv.GenerateStatistics``
runs with the same options (sketch-based top-k); CSV goes through
``tfdv.generate_statistics_from_csv``.

What each runner needs (the worker image must contain this package and
TFDV: use the project's data-validation image, the same one the component
runs in):

- ``DirectRunner``: nothing; runs in this process (tests use it). Slow: it
  is a correctness runner, not a fast one.
- ``DataflowRunner``: ``--project=<id>``, ``--region=<region>``,
  ``--temp_location=gs://<bucket>/tmp`` (statistics are staged there),
  ``--sdk_container_image=<validation image>``, and usually
  ``--service_account_email=...``, ``--subnetwork=...``,
  ``--machine_type=...``, ``--max_num_workers=N``. Inputs under the Vertex
  AI ``/gcs/<bucket>/...`` mount are read as ``gs://<bucket>/...``.
- ``FlinkRunner``: ``--flink_master=<host:port>``,
  ``--environment_type=DOCKER --environment_config=<validation image>`` (or
  ``EXTERNAL`` with a worker pool), ``--temp_location`` on storage the Flink
  workers share (``s3://``, ``hdfs://``, ``gs://``), and ``--parallelism=N``.
- ``SparkRunner``: ``--spark_master_url=spark://<host>:7077``, the same
  ``--environment_type/--environment_config`` pair and a shared
  ``--temp_location``.

On every runner except the local ones (``DirectRunner``, ``PrismRunner``)
the input must be readable by the workers (a ``gs://``, ``s3://`` or
``hdfs://`` URI, or a ``/gcs/`` path) and ``--temp_location`` is required.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Iterator

from kfp_governance.errors import ConfigError
from kfp_governance.validation.arrow_batches import resolved_format, to_tfdv_batch

log = logging.getLogger(__name__)

LOCAL_RUNNERS = ("DirectRunner", "PrismRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner")
REQUIRED_OPTIONS = {"DataflowRunner": ("project", "region", "temp_location")}


def worker_uri(path: str) -> str:
    """The URI a remote worker can read: ``/gcs/bucket/x`` (Vertex AI's mount) becomes ``gs://bucket/x``.

    >>> worker_uri("/gcs/my-bucket/runs/train.parquet"), worker_uri("s3://b/k")
    ('gs://my-bucket/runs/train.parquet', 's3://b/k')
    """
    path = str(path)
    return "gs://" + path[len("/gcs/"):] if path.startswith("/gcs/") else path


def pipeline_options(runner: str, beam_options: list[str] | None):
    """``PipelineOptions`` for ``runner`` from ``"--flag=value"`` strings; :class:`ConfigError` if malformed."""
    from apache_beam.options.pipeline_options import (
        GoogleCloudOptions,
        PipelineOptions,
        StandardOptions,
    )

    flags = list(beam_options or [])
    bad = [flag for flag in flags if not isinstance(flag, str) or not flag.startswith("--")]
    if bad:
        raise ConfigError(f"beam_options must be '--flag=value' strings; got {bad}",
                          fix="write each Beam option as e.g. '--project=my-project'")
    options = PipelineOptions(flags=flags)
    chosen = options.view_as(StandardOptions).runner
    if chosen and chosen != runner:
        raise ConfigError(f"beam_options set --runner={chosen} but runner is {runner!r}",
                          fix="set the runner only through the runner parameter (validation.runner)")
    options.view_as(StandardOptions).runner = runner
    cloud = options.view_as(GoogleCloudOptions)
    missing = [name for name in REQUIRED_OPTIONS.get(runner, ()) if not getattr(cloud, name, None)]
    if runner not in LOCAL_RUNNERS and not cloud.temp_location and "temp_location" not in missing:
        missing.append("temp_location")
    if missing:
        raise ConfigError(f"runner {runner!r} needs Beam option(s) {', '.join('--' + m for m in missing)}",
                          fix="add them to beam_options (validation.beam_options), e.g. '--temp_location=gs://bucket/tmp'")
    return options


def tables_to_tfdv_batches(table) -> Iterator:
    """Beam step: one Arrow table (a Parquet row group) to TFDV record batches."""
    for batch in table.to_batches():
        if batch.num_rows:
            yield to_tfdv_batch(batch)


def _staging_uri(runner: str, options) -> str:
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    name = f"kfp-governance-stats-{uuid.uuid4().hex}.pb"
    if runner in LOCAL_RUNNERS:
        return os.path.join(tempfile.mkdtemp(prefix="kfp-governance-beam-"), name)
    return options.view_as(GoogleCloudOptions).temp_location.rstrip("/") + "/" + name


def statistics_with_beam(uri: str, *, runner: str, beam_options: list[str] | None = None, schema=None,
                         fmt: str = "auto"):
    """Statistics of one split computed by a Beam pipeline on ``runner``; returns the proto.

    The pipeline writes a binary ``DatasetFeatureStatisticsList`` to a staging
    location (a local temp folder, or ``--temp_location``) that is read back here.
    """
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_data_validation as tfdv

    from kfp_governance.validation.protos import parse_statistics
    from kfp_governance.validation.statistics import stats_options

    options = pipeline_options(runner, beam_options)
    source = uri if runner in LOCAL_RUNNERS else worker_uri(uri)
    staging = _staging_uri(runner, options)
    stats_opts = stats_options(schema)
    log.info("computing statistics of %s on %s", source, runner)
    if resolved_format(uri, fmt) == "csv":
        return tfdv.generate_statistics_from_csv(source, output_path=staging, stats_options=stats_opts,
                                                 pipeline_options=options)
    with beam.Pipeline(options=options) as pipeline:
        _ = (
            pipeline
            | "ReadParquet" >> beam.io.ReadFromParquetBatched(source)
            | "ToTFDVBatches" >> beam.FlatMap(tables_to_tfdv_batches)
            | "GenerateStatistics" >> tfdv.GenerateStatistics(stats_opts)
            | "WriteStatistics" >> tfdv.WriteStatisticsToBinaryFile(staging)
        )
    with tf.io.gfile.GFile(staging, "rb") as handle:
        stats = parse_statistics(handle.read())
    try:
        tf.io.gfile.remove(staging)
    except (OSError, tf.errors.OpError):  # a leftover staging file is harmless
        log.debug("could not remove %s", staging)
    return stats
