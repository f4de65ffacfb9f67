"""Finds the WebP images inside a Qt resource file (`.rcc`) and the paths they were compiled from."""
from __future__ import annotations

import struct
from collections.abc import Iterator


def webp_chunks(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of every RIFF/WEBP chunk: b"RIFF", a little-endian uint32 length L, b"WEBP";
    the chunk is data[i:i+8+L]."""
    start = data.find(b"RIFF")
    while start >= 0:
        if data[start + 8:start + 12] == b"WEBP" and start + 8 <= len(data):
            (length,) = struct.unpack_from("<I", data, start + 4)
            if start + 8 + length <= len(data):
                yield start, data[start:start + 8 + length]
        start = data.find(b"RIFF", start + 1)


def rcc_names(data: bytes) -> dict[int, str]:
    """{offset of a file's bytes: its path} from a Qt resource file's tree and name table, or {} for
    anything that is not one (the chunks are then named by their index)."""
    try:
        magic, version, tree, payload, names = struct.unpack_from(">4sIIII", data)
        if magic != b"qres":
            return {}
        node_size = 22 if version >= 2 else 14  # version 2 added a last-modified time to each node
        paths: dict[int, str] = {}
        pending = [(0, "")]
        while pending:
            index, parent = pending.pop()
            name_offset, flags = struct.unpack_from(">IH", data, tree + index * node_size)
            if index:
                (length,) = struct.unpack_from(">H", data, names + name_offset)
                start = names + name_offset + 6  # the uint16 length, then a uint32 hash
                parent = f"{parent}/{data[start:start + 2 * length].decode('utf-16-be')}"
            if flags & 2:  # a directory: child count, first child index
                count, first = struct.unpack_from(">II", data, tree + index * node_size + 6)
                pending += [(child, parent) for child in range(first, first + count)]
            else:  # a file: country, language, offset of a uint32 size then the bytes
                (offset,) = struct.unpack_from(">I", data, tree + index * node_size + 10)
                paths[payload + offset + 4] = parent
        return paths
    except (struct.error, UnicodeDecodeError):
        return {}
