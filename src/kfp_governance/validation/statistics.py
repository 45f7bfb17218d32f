"""TFDV statistics computed in this process, one Arrow record batch at a time.

This is what ``tfdv.generate_statistics_from_dataframe`` does internally,
without holding the whole data set: TFDV's in-memory generators
(``stats_impl.get_generators(options, in_memory=True)``: basic statistics and
the sketch-based top-k/uniques) each keep one accumulator, every batch is
added to it, and ``stats_impl.extract_statistics_output`` turns the
accumulators into a ``DatasetFeatureStatisticsList``. The accumulators are
sketches of fixed size (quantiles, Misra-Gries, KMV), so memory is bounded by
the batch size, not by the file.

Counts (examples, missing, value counts, top-value frequencies of columns with
fewer distinct values than the sketch size) are exact and equal TFDV's;
mean, std, min and max agree to floating-point rounding; quantiles and
histogram bucket boundaries come from the same approximate quantile sketch
(epsilon 0.01) fed in a different batching, so they agree with TFDV's to
within that sketch's rank error. ``tests/test_validate_data.py`` states and
checks the tolerances.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kfp_governance.validation.arrow_batches import (
    DEFAULT_BATCH_ROWS,
    iter_file_batches,
    prefetch,
    to_tfdv_batch,
)

log = logging.getLogger(__name__)


def stats_options(schema=None):
    """TFDV's default ``StatsOptions`` (with ``schema`` if given), sketch-based top-k.

    The sketch-based top-k generator is used everywhere (in-process it is
    TFDV's only choice, on Beam it avoids an exact-count shuffle), so both
    paths produce the same kind of statistics.
    """
    import tensorflow_data_validation as tfdv

    return tfdv.StatsOptions(schema=schema, use_sketch_based_topk_uniques=True)


def statistics_from_batches(batches: Iterable, *, schema=None):
    """Statistics of a stream of flat Arrow record batches (all with the same columns).

    ``schema`` (a TFDV ``Schema``) makes categorical integer features count as
    categorical, as in TFX's StatisticsGen. Returns a
    ``DatasetFeatureStatisticsList`` with one data set, or ``None`` if the
    stream holds no rows.
    """
    return statistics_from_tfdv_batches((to_tfdv_batch(b) for b in batches if b.num_rows), schema=schema)


def statistics_from_tfdv_batches(batches: Iterable, *, schema=None):
    """Like :func:`statistics_from_batches`, for batches already converted by ``to_tfdv_batch``."""
    from tensorflow_data_validation.statistics import stats_impl

    generators = accumulators = None
    rows = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        if generators is None:
            generators = stats_impl.get_generators(stats_options(schema), in_memory=True)
            accumulators = [gen.create_accumulator() for gen in generators]
        accumulators = [gen.add_input(acc, batch) for gen, acc in zip(generators, accumulators)]
        rows += batch.num_rows
    if generators is None:
        return None
    log.debug("statistics over %d rows", rows)
    return stats_impl.extract_statistics_output(accumulators, generators)


def statistics_from_file(uri: str, *, what: str = "path", fmt: str = "auto", batch_rows: int = DEFAULT_BATCH_ROWS,
                         schema=None, csv_column_types: dict | None = None):
    """Statistics of a Parquet or CSV file, streamed in record batches (reading overlaps computing).

    ``what`` names the parameter in errors. Raises :class:`DataError` if the
    file is missing, empty or unreadable.

    >>> import os, tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> pq.write_table(pa.table({"x": [1.0, 2.0, None], "c": ["a", "b", "a"]}), path)
    >>> stats = statistics_from_file(path, batch_rows=2)  # doctest: +SKIP
    >>> stats.datasets[0].num_examples  # doctest: +SKIP
    3
    """
    from kfp_governance.errors import DataError

    batches = iter_file_batches(uri, what=what, fmt=fmt, batch_rows=batch_rows, csv_column_types=csv_column_types)
    # Reading and converting run in a helper thread (Arrow kernels release
    # the GIL), so they overlap with the generators on this thread.
    converted = (to_tfdv_batch(batch) for batch in batches if batch.num_rows)
    stats = statistics_from_tfdv_batches(prefetch(converted), schema=schema)
    if stats is None:
        raise DataError(f"{what} {uri!r} has no rows", fix=f"point {what} at a file with rows")
    return stats
