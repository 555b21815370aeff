"""The report channel from workers to the driver (``cluster.reports``), over real sockets.

What a user would notice: every report of a run reaches the driver, however
the bytes are split; a connection without the run's token is dropped before
anything it sent is unpickled.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from pathlib import Path

import pytest

from cluster import reports
from runner.contracts import ErrorInfo, NodeOutcome

HOST = "127.0.0.1"


class _Tripwire:
    """Unpickling it creates a file: proof that bytes were unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


async def _serve(clients, settle: float = 0.3) -> list[tuple[str, NodeOutcome]]:
    """Start a server, run the blocking ``clients(reply)`` in a thread, collect reports."""
    loop = asyncio.get_running_loop()
    got: list[tuple[str, NodeOutcome]] = []
    server = reports.ReportServer(loop, HOST, got.extend)
    try:
        await loop.run_in_executor(None, clients, server.reply)
        await asyncio.sleep(settle)
    finally:
        server.close()
    return got


def _raw(reply: reports.Reply, *chunks: bytes) -> None:
    with socket.create_connection(reply[:2]) as conn:
        for chunk in chunks:
            conn.sendall(chunk)


def _frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def test_every_report_reaches_the_driver_in_order():
    outcomes = [NodeOutcome(seconds=i, manifests=[{"key": "ab" * 32, "socket": 0}])
                for i in range(50)]
    failed = NodeOutcome(error=ErrorInfo(type="ValueError", message="x", traceback="tb"))

    def clients(reply):
        for i, outcome in enumerate(outcomes):
            reports.send(reply, f"n-{i}", outcome)
        reports.try_send(reply, "bad-1", failed)

    got = asyncio.run(_serve(clients))
    assert [n for n, _ in got] == [f"n-{i}" for i in range(50)] + ["bad-1"]
    assert [o.seconds for _, o in got[:50]] == list(range(50))
    assert got[-1][1].error == failed.error


def test_frames_split_across_writes_are_reassembled():
    outcome = NodeOutcome(seconds=1.5)

    def clients(reply):
        data = _frame(reply[2]) + _frame(pickle.dumps(("n-1", outcome)))
        _raw(reply, *(data[i:i + 3] for i in range(0, len(data), 3)))

    got = asyncio.run(_serve(clients))
    assert [(n, o.seconds) for n, o in got] == [("n-1", 1.5)]


def test_a_wrong_token_is_dropped_before_anything_is_unpickled(tmp_path):
    trip = tmp_path / "unpickled"
    payload = _frame(pickle.dumps(("n-1", _Tripwire(str(trip)))))

    def clients(reply):
        _raw(reply, _frame(b"x" * 16) + payload)  # a token of the right size, wrong
        _raw(reply, _frame(b"short") + payload)  # not even a token
        _raw(reply, payload)  # no token at all

    got = asyncio.run(_serve(clients))
    assert got == [] and not trip.exists()


def test_a_report_to_an_unreachable_driver_raises_and_is_not_retried_at_once():
    """A worker whose driver cannot be reached (gone, or a firewall) gets an error, and
    the next report for that run fails at once instead of waiting on the network again
    (the driver reads those outcomes from the store: tests/faults/test_processes.py)."""
    async def closed() -> reports.Reply:
        server = reports.ReportServer(asyncio.get_running_loop(), HOST, lambda _r: None)
        server.close()
        return server.reply

    reply = asyncio.run(closed())
    try:
        reports.send(reply, "n-1", NodeOutcome())
    except OSError as err:
        assert "moments ago" not in str(err)  # this one did try to connect
    else:
        raise AssertionError("a report to a closed driver was accepted")
    with pytest.raises(ConnectionError, match="unreachable moments ago"):
        reports.send(reply, "n-2", NodeOutcome())
