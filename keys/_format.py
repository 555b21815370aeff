"""The wire format: version header, domain tags, type tags, framing helpers.

Every encoded value is ``TAG + payload``; variable-size payloads carry an
8-byte little-endian length (or count) before them, so no two values can
share an encoding by concatenation. Changing anything here changes every
key: bump ``FORMAT_VERSION`` so old caches become clean misses.
"""

from __future__ import annotations

import struct

FORMAT_VERSION = 1
#: Leads every ``encode()`` output; a format change is a clean miss.
HEADER = b"dfk" + bytes([FORMAT_VERSION])
#: Version of what a node key covers, beyond value encodings. 2: identities are
#: code closures (``@code=``) instead of the task's source text (``@src=``).
KEY_FORMAT_VERSION = 2
#: Domain tags: a value digest, a node signature and a file digest can never collide.
VALUE_DOMAIN = b"digestflow:value\x00"
NODE_DOMAIN = b"digestflow:node\x00" + bytes([KEY_FORMAT_VERSION])
SOURCE_DOMAIN = b"digestflow:source\x00"

# One byte per type. Distinct types get distinct tags (K5).
NONE = b"N"
TRUE = b"T"
FALSE = b"F"
INT = b"i"
FLOAT = b"f"
COMPLEX = b"c"
STR = b"s"
BYTES = b"b"
BYTEARRAY = b"a"
MEMORYVIEW = b"m"
TUPLE = b"t"
LIST = b"l"
DICT = b"d"
SET = b"S"
FROZENSET = b"z"
RANGE = b"r"
FIELDS = b"D"  # dataclasses and namedtuples: type name + (field, value)...
ENUM = b"E"
REGISTERED = b"U"  # keys.register(tp): type name + encoded returned value
PROTOCOL = b"P"  # __digest__(): type name + encoded returned value
SUBCLASS = b"X"  # unregistered subclass of a registered type: name + base encoding
DATETIME = b"G"
DATE = b"Y"
TIME = b"H"
TIMEDELTA = b"J"
DECIMAL = b"M"
UUID = b"Q"
PATH = b"p"
KEY = b"K"
NDARRAY = b"A"
NDARRAY_OBJECT = b"B"
NUMPY_SCALAR = b"g"
NUMPY_DTYPE = b"y"
ARROW = b"R"
TENSOR = b"O"
TORCH_DTYPE = b"o"

_DOUBLE = struct.Struct("<d")
_COMPLEX = struct.Struct("<dd")


def length(n: int) -> bytes:
    """Fixed 8-byte little-endian length or count prefix."""
    return n.to_bytes(8, "little")


def enc_str(value: str) -> bytes:
    # surrogatepass: lone surrogates are legal in Python str; keep them distinct.
    data = value.encode("utf-8", "surrogatepass")
    return STR + len(data).to_bytes(8, "little") + data


def enc_int(value: int) -> bytes:
    nbytes = (value.bit_length() + 8) // 8  # +1 bit for the sign
    return INT + nbytes.to_bytes(8, "little") + value.to_bytes(nbytes, "little", signed=True)


def enc_float(value: float) -> bytes:
    # Raw IEEE-754 bits: -0.0 != 0.0, and NaN keeps its sign and payload bits,
    # exactly as a numpy array holding the same NaN would hash.
    return FLOAT + _DOUBLE.pack(value)


def enc_complex(value: complex) -> bytes:
    return COMPLEX + _COMPLEX.pack(value.real, value.imag)


def enc_bytes(value: bytes) -> bytes:
    return BYTES + len(value).to_bytes(8, "little") + value


def enc_none(value: None) -> bytes:
    return NONE


def enc_bool(value: bool) -> bytes:
    return TRUE if value else FALSE


#: Scalars whose whole encoding is computed in one call (fast path for the signer).
SCALARS = {
    type(None): enc_none,
    bool: enc_bool,
    int: enc_int,
    float: enc_float,
    complex: enc_complex,
    str: enc_str,
    bytes: enc_bytes,
}


def type_name(tp: type) -> str:
    """``module.qualname``: what identifies a user type in an encoding."""
    return f"{tp.__module__}.{tp.__qualname__}"
