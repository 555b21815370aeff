"""``file_digest``: the explicit, opt-in way to key a file by its contents.

A path literal keys on the path string only; reading files is I/O and must
be asked for. The file is memory-mapped and streamed into a multithreaded
hasher, and the result equals ``digest(<the file's bytes>)``.
"""

from __future__ import annotations

import mmap
import os

from blake3 import blake3

from keys import _format as F
from keys.key import Key


def file_digest(path: str | os.PathLike[str]) -> Key:
    """``digest(open(path, "rb").read())`` without reading the file into memory."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        hasher = blake3(
            F.VALUE_DOMAIN + F.HEADER + F.BYTES + F.length(size), max_threads=blake3.AUTO
        )
        if size:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                if len(mapped) != size:
                    raise OSError(f"{os.fspath(path)!r} changed size while being hashed")
                hasher.update(mapped)
    return Key._trusted(hasher.digest())
