"""Stream Arrow record batches from a Parquet or CSV file, shaped the way TFDV wants.

TFDV's statistics generators expect every column as a list array
(``list<int64>``, ``list<double>``, ``list<string>``) with a null list where
the value is missing. Files hold flat columns, so :func:`to_tfdv_batch`
converts each column with Arrow kernels and one numpy ``cumsum`` (no Python
loop per row), the same shape ``tfdv.generate_statistics_from_dataframe``
builds internally with tfx_bsl (which also copies strings into
``large_binary``; that copy is skipped here, TFDV reads both alike).

Column types are mapped like this:

========================================  ===============================
Arrow type in the file                    TFDV feature type
========================================  ===============================
int8..int64, uint8..uint32                INT (int64)
uint64                                    INT (uint64)
float16/32/64, decimal                    FLOAT (double)
bool                                      INT (0 or 1), as in TFDV's
                                          dataframe path
string, binary (and large variants)       STRING (kept as is)
dictionary                                decoded, then as its values
date, time, timestamp, duration           STRING (ISO text, as TFDV's CSV
                                          reader would see it)
all-null column of type ``null``          passed through (no type yet)
list/large_list of the above              passed through (multivalent)
========================================  ===============================

A float ``NaN`` stays a value (TFDV counts it in ``num_nan`` style fields of
its histograms), while a null is a missing value; pandas writes its missing
floats to Parquet as nulls, so both readers agree on such files.

Memory stays bounded (see :func:`iter_file_batches`): besides the reader's
buffers, at most ``depth`` converted batches wait in :func:`prefetch` while
one is being processed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from kfp_governance.errors import DataError
from kfp_governance.sources import source_size

DEFAULT_BATCH_ROWS = 65_536
DEFAULT_CSV_BLOCK_BYTES = 4 << 20
PARQUET_BUFFER_BYTES = 1 << 20


def resolved_format(uri: str, fmt: str = "auto") -> str:
    """``parquet`` or ``csv``: ``fmt`` unless it is ``auto``, then the URI's ending decides.

    >>> resolved_format("gs://bucket/train.parquet"), resolved_format("data.csv.gz")
    ('parquet', 'csv')
    """
    if fmt not in ("auto", "parquet", "csv"):
        raise DataError(f"format {fmt!r} is not supported", fix="use 'parquet', 'csv' or 'auto'")
    if fmt != "auto":
        return fmt
    name = str(uri).lower()
    return "csv" if name.endswith((".csv", ".csv.gz", ".txt")) else "parquet"


def _flat_to_tfdv_type(name: str, array):
    import pyarrow as pa

    kind = array.type
    if pa.types.is_dictionary(kind):
        array = array.dictionary_decode()
        kind = array.type
    try:
        if pa.types.is_integer(kind):
            return array if kind in (pa.int64(), pa.uint64()) else array.cast(pa.int64())
        if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            return array if kind == pa.float64() else array.cast(pa.float64())
        if pa.types.is_boolean(kind):
            return array.cast(pa.int64())
        if (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)
                or pa.types.is_large_binary(kind)):
            return array
        if pa.types.is_temporal(kind):
            return array.cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as err:
        raise DataError(f"column {name!r} of type {kind} cannot be converted for TFDV: {err}",
                        fix=f"cast column {name!r} to a number or a string before validation") from None
    raise DataError(f"column {name!r} has type {kind}, which TFDV statistics do not support",
                    fix=f"flatten or cast column {name!r} to numbers or strings, or drop it")


def singleton_lists(array):
    """``[v]`` for each value and a null list for each null; values are copied only when there are nulls.

    >>> import pyarrow as pa
    >>> singleton_lists(pa.array([1.5, None, 2.0])).to_pylist()
    [[1.5], None, [2.0]]
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = len(array)
    if array.null_count == 0:
        return pa.ListArray.from_arrays(pa.array(np.arange(rows + 1, dtype=np.int32)), array)
    valid = pc.is_valid(array)  # a fresh bitmap at offset 0, whatever the input's offset
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(np.asarray(valid), out=offsets[1:])
    return pa.Array.from_buffers(pa.list_(array.type), rows, [valid.buffers()[1], pa.py_buffer(offsets)],
                                 null_count=array.null_count, children=[pc.drop_null(array)])


def to_tfdv_batch(batch):
    """Convert a record batch of flat columns into TFDV's list-column form.

    Vectorized (Arrow kernels and one numpy ``cumsum`` per column with
    nulls); a null stays a null list, which TFDV counts as missing.

    >>> import pyarrow as pa
    >>> rb = to_tfdv_batch(pa.record_batch([pa.array([1, None]), pa.array(["a", None])], names=["n", "s"]))
    >>> [str(t) for t in rb.schema.types]
    ['list<item: int64>', 'list<item: string>']
    >>> rb.column(0).to_pylist()
    [[1], None]
    """
    import pyarrow as pa

    arrays = []
    for name, column in zip(batch.schema.names, batch.columns):
        kind = column.type
        if pa.types.is_null(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind):
            arrays.append(column)
            continue
        arrays.append(singleton_lists(_flat_to_tfdv_type(name, column)))
    return pa.RecordBatch.from_arrays(arrays, batch.schema.names)


def _open_random_access(uri: str):
    import pyarrow.fs as pafs

    if "://" in uri:
        filesystem, path = pafs.FileSystem.from_uri(uri)
        return filesystem.open_input_file(path)
    return pafs.LocalFileSystem().open_input_file(str(Path(uri).resolve()))


def _parquet_batches(uri: str, what: str, batch_rows: int) -> Iterator:
    import pyarrow as pa
    import pyarrow.parquet as pq

    handle = _open_random_access(uri)
    try:
        try:
            # A positive buffer size reads column chunks page by page; without it a
            # whole row group (load_data writes one per split) is held in memory.
            parquet = pq.ParquetFile(handle, buffer_size=PARQUET_BUFFER_BYTES)
        except (pa.ArrowInvalid, OSError) as err:
            raise DataError(f"{what} {uri!r} is not a readable Parquet file: {str(err).splitlines()[0]}",
                            fix=f"point {what} at a Parquet file (the load_data step writes one)") from None
        if parquet.metadata.num_rows == 0:
            raise DataError(f"{what} {uri!r} has no rows", fix=f"point {what} at a split with at least one row")
        yield from parquet.iter_batches(batch_size=batch_rows)
    finally:
        handle.close()


def _csv_batches(uri: str, what: str, block_bytes: int, column_types: dict | None, batch_rows: int) -> Iterator:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from kfp_governance.sources import open_source

    with open_source(uri) as raw:
        stream = pa.CompressedInputStream(raw, "gzip") if uri.lower().endswith(".gz") else raw
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=block_bytes),
                convert_options=pacsv.ConvertOptions(column_types=column_types or {}, strings_can_be_null=True),
            )
        except (pa.ArrowInvalid, OSError) as err:
            raise DataError(f"{what} {uri!r} is not a readable CSV file: {str(err).splitlines()[0]}",
                            fix=f"point {what} at a CSV file with a header row") from None
        rows = 0
        pending: list = []
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as err:
                raise DataError(f"{what} {uri!r}: {str(err).splitlines()[0]}",
                                fix="pass column_types for columns whose type changes after the first block") from None
            rows += batch.num_rows
            pending.append(batch)
            if sum(b.num_rows for b in pending) >= batch_rows:
                yield _concat(pending)
                pending = []
        if pending:
            yield _concat(pending)
        if rows == 0:
            raise DataError(f"{what} {uri!r} has a header but no rows", fix=f"point {what} at a file with rows")


def _concat(batches: list):
    """One record batch from consecutive ones (small CSV blocks make full-size batches)."""
    import pyarrow as pa

    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches(max_chunksize=None)[0]


def iter_file_batches(uri: str, *, what: str = "path", fmt: str = "auto", batch_rows: int = DEFAULT_BATCH_ROWS,
                      csv_block_bytes: int = DEFAULT_CSV_BLOCK_BYTES, csv_column_types: dict | None = None) -> Iterator:
    """Yield the flat Arrow record batches of a Parquet or CSV file, never the whole file.

    Parquet is read ``batch_rows`` rows at a time, column chunks page by page
    (``PARQUET_BUFFER_BYTES`` buffers), so memory does not depend on the size
    of its row groups. CSV is parsed ``csv_block_bytes`` at a time (Arrow reads
    up to 32 blocks ahead, so about 128 MiB with the default 4 MiB) and blocks
    are joined into batches of at least ``batch_rows`` rows; its column types
    are inferred from the first block unless ``csv_column_types`` pins them.
    ``what`` names the parameter in errors. Raises :class:`DataError` if the
    file is missing, empty or unreadable.
    """
    if batch_rows < 1:
        raise DataError(f"batch_rows is {batch_rows}", fix="use a positive number of rows per batch")
    if source_size(uri, what=what) == 0:
        raise DataError(f"{what} {uri!r} is empty (0 bytes)", fix=f"point {what} at a file with rows")
    if resolved_format(uri, fmt) == "parquet":
        return _parquet_batches(uri, what, batch_rows)
    return _csv_batches(uri, what, csv_block_bytes, csv_column_types, batch_rows)


def prefetch(items: Iterable, depth: int = 2) -> Iterator:
    """Iterate ``items`` in a background thread, at most ``depth`` ahead.

    Arrow reads and casts release the GIL, so reading the next batch overlaps
    with computing statistics on this one. Exceptions reach the caller.

    >>> list(prefetch(iter(range(5))))
    [0, 1, 2, 3, 4]
    """
    done = object()
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as err:
            put((done, err))

    worker = threading.Thread(target=produce, name="tfdv-batch-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, err = slots.get()
            if item is done:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)
