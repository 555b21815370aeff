"""pyarrow encoders, installed lazily the first time a pyarrow value is seen.

A table (or batch, array, chunked array) encodes as one Arrow IPC stream of
its schema and a single record batch whose columns are the concatenated
chunks. So the key ignores chunking, and a slice with an offset hashes like
its copy (the IPC writer rebases offsets and bitmaps). Buffers are streamed
into the sink without an intermediate copy. The IPC bytes are pinned by the
golden tests: a pyarrow release that changed them would fail loudly there.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from keys import _format as F
from keys.registry import register_writer


class _SinkFile:
    """The minimal writable file pyarrow's IPC writer needs, over our sink."""

    closed = False

    def __init__(self, write: Any) -> None:
        self._write = write

    def write(self, data: Any) -> int:
        view = memoryview(data)
        if view.nbytes:
            self._write(view.cast("B") if view.ndim != 1 or view.format != "B" else view)
        return view.nbytes

    def flush(self) -> None:
        pass


def _write_batch(enc: Any, kind: str, batch: pa.RecordBatch) -> None:
    enc.write(F.ARROW + F.enc_str(kind))
    with pa.ipc.new_stream(_SinkFile(enc.write), batch.schema) as writer:
        writer.write_batch(batch)


def _one_batch(schema: pa.Schema, columns: list[pa.ChunkedArray]) -> pa.RecordBatch:
    arrays = [col.combine_chunks() for col in columns]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


@register_writer(pa.Table)
def _write_table(enc: Any, table: pa.Table) -> None:
    _write_batch(enc, "table", _one_batch(table.schema, table.columns))


@register_writer(pa.RecordBatch)
def _write_record_batch(enc: Any, batch: pa.RecordBatch) -> None:
    _write_batch(enc, "record_batch", batch)


def _column_schema(tp: pa.DataType) -> pa.Schema:
    return pa.schema([pa.field("", tp)])


@register_writer(pa.ChunkedArray)
def _write_chunked(enc: Any, arr: pa.ChunkedArray) -> None:
    _write_batch(enc, "chunked_array", _one_batch(_column_schema(arr.type), [arr]))


@register_writer(pa.Array, subclasses=True)
def _write_array(enc: Any, arr: pa.Array) -> None:
    batch = pa.RecordBatch.from_arrays([arr], schema=_column_schema(arr.type))
    _write_batch(enc, "array", batch)
