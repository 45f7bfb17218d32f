"""Content hashes of files: the identity of data and models in the evidence."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

_CHUNK = 1 << 20


def sha256_stream(stream: BinaryIO) -> str:
    """sha256 hex digest of everything left in a binary stream, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | Path) -> str:
    """sha256 hex digest of a local file.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"abc")
    >>> sha256_file(f.name)[:16]
    'ba7816bf8f01cfea'
    >>> os.unlink(f.name)
    """
    with open(path, "rb") as stream:
        return sha256_stream(stream)


def sha256_uri(uri: str | Path) -> str:
    """sha256 hex digest of a local file or of the object at a URI (``gs://``, ``s3://``, ...)."""
    text = str(uri)
    if "://" not in text or text.startswith("file://"):
        return sha256_file(text.removeprefix("file://"))
    from kfp_governance.sources import open_source

    with open_source(text) as stream:
        return sha256_stream(stream)
