"""Open data by local path or URI (``file://``, ``gs://``, ``s3://``, ``hdfs://``).

pyarrow's filesystems do the work, so the same code reads a laptop file, a
Vertex AI bucket or an on-prem MinIO bucket.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from kfp_governance.errors import DataError
from kfp_governance.hashing import sha256_stream


def _filesystem(uri: str):
    import pyarrow.fs as pafs

    if "://" not in uri:
        return pafs.LocalFileSystem(), uri
    try:
        return pafs.FileSystem.from_uri(uri)
    except Exception as err:  # pyarrow raises ArrowInvalid / OSError with a good message
        raise DataError(f"cannot open data URI {uri!r}: {err}",
                        fix="use a local path or a file://, gs://, s3:// or hdfs:// URI") from None


def source_size(uri: str, what: str = "data.uri") -> int:
    """Size in bytes; raises :class:`DataError` if the file does not exist."""
    import pyarrow.fs as pafs

    filesystem, path = _filesystem(uri)
    try:
        info = filesystem.get_file_info(path)
    except OSError as err:
        raise DataError(f"cannot reach {what} {uri!r}: {err}", fix="check the URI and the credentials") from None
    if info.type == pafs.FileType.NotFound:
        raise DataError(f"{what} {uri!r} does not exist", fix=f"point {what} at an existing file")
    if info.type != pafs.FileType.File:
        raise DataError(f"{what} {uri!r} is not a file", fix=f"point {what} at a CSV or Parquet file")
    return info.size


@contextmanager
def open_source(uri: str, random_access: bool = False) -> Iterator[BinaryIO]:
    """A binary input stream over the raw bytes at ``uri`` (seekable with ``random_access``)."""
    filesystem, path = _filesystem(uri)
    opener = filesystem.open_input_file if random_access else filesystem.open_input_stream
    with (opener(path) if random_access else opener(path, compression=None)) as stream:
        yield stream


def sha256_uri(uri: str) -> str:
    """sha256 of the raw bytes at ``uri`` (compressed bytes for a ``.gz`` file)."""
    with open_source(uri) as stream:
        return sha256_stream(stream)
