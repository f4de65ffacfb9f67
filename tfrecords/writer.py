"""Gzip TFRecord shards written as one gzip member per record, on any Beam filesystem.

A gzip file may hold several members one after another (RFC 1952); gzip, Python, Beam and
`tf.data.TFRecordDataset(..., compression_type="GZIP")` read them as one stream. So each record is
compressed on its own where it is made, in parallel, and a shard is the concatenation of its
records' members: the idea of BGZF. The deflate is Intel ISA-L's (the `isal` package) at level 1:
on records of real 128x128 photo crops it writes 6.4x faster than `tf.io.TFRecordWriter` at zlib's
default level, for files 4% larger (bench.record_encoding). Members have a fixed header (no name,
time 0), so reruns are identical.
"""
from __future__ import annotations

import io
from collections.abc import Iterable

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.tfrecordio import _TFRecordUtil
from isal import isal_zlib

LEVEL = 1
_GZIP_WBITS = 16 + isal_zlib.MAX_WBITS


def compress_record(serialized: bytes, level: int = LEVEL) -> bytes:
    """One record framed as a TFRecord (length, CRCs) and deflated into a complete gzip member."""
    framed = io.BytesIO()
    _TFRecordUtil.write_record(framed, serialized)
    return isal_zlib.compress(framed.getvalue(), level, _GZIP_WBITS)


def write_shard(path: str, members: Iterable[bytes]) -> None:
    """Writes `compress_record` members, in order, as one gzip TFRecord file (with none, a valid
    gzip file of no records)."""
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        empty = True
        for member in members:
            f.write(member)
            empty = False
        if empty:
            f.write(isal_zlib.compress(b"", LEVEL, _GZIP_WBITS))
