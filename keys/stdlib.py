"""Writers for standard-library value types: dates and times, Decimal, UUID,
paths (the path string, never the file's contents) and ``Key`` itself."""

from __future__ import annotations

import datetime as dt
import decimal
import pathlib
import uuid
from typing import Any

from keys import _format as F
from keys.key import Key
from keys.registry import register_writer


def _tz(tzinfo: dt.tzinfo | None, probe: dt.datetime | None) -> Any:
    """Identify a tzinfo: zone name where there is one, else offset and name.

    Two aware datetimes naming the same instant in different zones differ:
    a task formatting them would produce different output.
    """
    if tzinfo is None:
        return None
    zone_key = getattr(tzinfo, "key", None) or getattr(tzinfo, "zone", None)
    if isinstance(zone_key, str):  # zoneinfo.ZoneInfo / pytz
        return (F.type_name(type(tzinfo)), zone_key)
    offset = tzinfo.utcoffset(probe)
    offset_us = None if offset is None else offset // dt.timedelta(microseconds=1)
    return (F.type_name(type(tzinfo)), tzinfo.tzname(probe), offset_us)


@register_writer(dt.datetime)
def _write_datetime(enc: Any, v: dt.datetime) -> None:
    enc.write(F.DATETIME)
    fields = (v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, v.fold)
    enc.encode((fields, _tz(v.tzinfo, v)))


@register_writer(dt.date)
def _write_date(enc: Any, v: dt.date) -> None:
    enc.write(F.DATE)
    enc.encode((v.year, v.month, v.day))


@register_writer(dt.time)
def _write_time(enc: Any, v: dt.time) -> None:
    enc.write(F.TIME)
    enc.encode(((v.hour, v.minute, v.second, v.microsecond, v.fold), _tz(v.tzinfo, None)))


@register_writer(dt.timedelta)
def _write_timedelta(enc: Any, v: dt.timedelta) -> None:
    enc.write(F.TIMEDELTA)
    enc.encode((v.days, v.seconds, v.microseconds))


@register_writer(decimal.Decimal)
def _write_decimal(enc: Any, v: decimal.Decimal) -> None:
    # str() is exact and keeps the exponent: Decimal("1.0") != Decimal("1.00").
    enc.write(F.DECIMAL + F.enc_str(str(v)))


@register_writer(uuid.UUID)
def _write_uuid(enc: Any, v: uuid.UUID) -> None:
    enc.write(F.UUID + v.bytes)


_PATH_TYPES = (
    pathlib.PurePath,
    pathlib.PurePosixPath,
    pathlib.PureWindowsPath,
    pathlib.Path,
    pathlib.PosixPath,
    pathlib.WindowsPath,
)


@register_writer(*_PATH_TYPES)
def _write_path(enc: Any, v: pathlib.PurePath) -> None:
    """Flavour and path string; equal paths (``Path`` vs ``PurePosixPath``) agree."""
    flavour = "windows" if isinstance(v, pathlib.PureWindowsPath) else "posix"
    enc.write(F.PATH + F.enc_str(flavour) + F.enc_str(str(v)))


@register_writer(Key)
def _write_key(enc: Any, v: Key) -> None:
    enc.write(F.KEY + v.digest)
