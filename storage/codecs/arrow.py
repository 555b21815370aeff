"""Arrow tables, record batches and pandas DataFrames as Arrow IPC files.

Reading opens the IPC file over the (memory-mapped, locally) buffer, so column
buffers point into the file map: no copy. DataFrames go through
``pa.Table.from_pandas`` (the pandas metadata restores index and dtypes) and
come back through ``to_pandas`` (which copies, as pandas needs its own blocks).
"""

from __future__ import annotations

from typing import Any, BinaryIO

from storage.codecs.base import CodecContext, CodecDeclined
from storage.errors import CorruptObjectError


def _write_ipc(table: Any, sink: BinaryIO) -> None:
    import pyarrow as pa

    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write(table)


def _read_ipc(buf: Any) -> Any:
    import pyarrow as pa

    try:
        return pa.ipc.open_file(pa.py_buffer(buf))
    except (pa.ArrowInvalid, OSError) as err:
        raise CorruptObjectError(f"unreadable Arrow IPC data: {err}") from err


def _schema_summary(schema: Any) -> list[list[str]]:
    return [[f.name, str(f.type)] for f in schema][:200]


class ArrowCodec:
    """``pyarrow.Table`` and ``pyarrow.RecordBatch`` as an Arrow IPC file."""

    name = "arrow"
    ext = "arrow"
    writable = False

    def accepts(self, value: Any) -> bool:
        import pyarrow as pa

        return isinstance(value, pa.Table | pa.RecordBatch)

    def encode(self, value: Any, sink: BinaryIO, ctx: CodecContext) -> dict[str, Any]:
        import pyarrow as pa

        _write_ipc(value, sink)
        return {
            "type": "pyarrow.RecordBatch" if isinstance(value, pa.RecordBatch) else "pyarrow.Table",
            "rows": value.num_rows,
            "columns": value.num_columns,
            "schema": _schema_summary(value.schema),
        }

    def decode(self, buf: Any, summary: dict[str, Any], ctx: CodecContext) -> Any:
        import pyarrow as pa

        reader = _read_ipc(buf)
        table = reader.read_all()
        if summary.get("type") != "pyarrow.RecordBatch":
            return table
        if reader.num_record_batches == 1:
            return reader.get_batch(0)
        batches = table.combine_chunks().to_batches()
        return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)


class PandasCodec:
    """``pandas.DataFrame`` as Arrow IPC with pandas metadata (index, dtypes)."""

    name = "pandas"
    ext = "arrow"
    writable = False

    def accepts(self, value: Any) -> bool:
        import pandas as pd

        return isinstance(value, pd.DataFrame)

    def encode(self, value: Any, sink: BinaryIO, ctx: CodecContext) -> dict[str, Any]:
        import pyarrow as pa

        try:  # columns Arrow cannot represent (mixed objects) fall back to pickle
            table = pa.Table.from_pandas(value)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError) as err:
            raise CodecDeclined(str(err)) from err
        _write_ipc(table, sink)
        return {
            "type": "pandas.DataFrame",
            "rows": len(value),
            "columns": len(value.columns),
            "schema": _schema_summary(table.schema),
        }

    def decode(self, buf: Any, summary: dict[str, Any], ctx: CodecContext) -> Any:
        return _read_ipc(buf).read_all().to_pandas()
