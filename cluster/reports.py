"""Outcomes from workers to the driver over one TCP connection per worker and run.

A Ray task of a node returns only its outputs (one object per socket); the
small ``NodeOutcome`` the driver needs (manifests, timings, errors) travels
here instead of as an extra return object per task, which the driver would
have to await one by one. The worker sends it after storing the outputs and
before returning them, so a report never announces outputs that are not
stored; a worker that dies before sending is retried by Ray or, past its
retries, seen as a failed task by the executor's watchdog. A worker that cannot
reach the driver (a firewalled port) returns its outputs anyway, and tries that
driver again only after ``RETRY_AFTER``; the watchdog reads such a task's
outcome from the store (``cluster.tracking``).

Wire: frames of a 4-byte big-endian length and a payload. The first frame
on a connection is the run's token, checked before anything is unpickled;
each later frame is a pickled ``(node id, NodeOutcome)``. The server lives
in the run's event loop (non-blocking sockets, no thread): one wake-up reads
every report that arrived meanwhile.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import pickle
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable

from runner.contracts import NodeOutcome

log = logging.getLogger("digestflow")

Reply = tuple[str, int, bytes]  # driver host, port, token
_LEN = struct.Struct(">I")
_MAX_FRAME = 64 << 20


class ReportServer:
    """Accepts workers' connections; hands each ``(node id, outcome)`` to ``deliver``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str,
                 deliver: Callable[[list[tuple[str, NodeOutcome]]], None]) -> None:
        self.loop = loop
        self.deliver = deliver
        self.token = secrets.token_bytes(16)
        self._sock = socket.create_server((host, 0), backlog=128)
        self._sock.setblocking(False)
        self.reply: Reply = (host, self._sock.getsockname()[1], self.token)
        self._conns: dict[socket.socket, _Conn] = {}
        loop.add_reader(self._sock, self._accept)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            conn.setblocking(False)
            self._conns[conn] = _Conn()
            self.loop.add_reader(conn, self._read, conn)

    def _read(self, conn: socket.socket) -> None:
        state = self._conns[conn]
        try:
            data = conn.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        state.buffer += data
        got = state.frames()
        if got is None:
            self._drop(conn)
            return
        if not state.authenticated and got:
            if not hmac.compare_digest(got[0], self.token):
                log.warning("digestflow: dropped a report connection with a wrong token")
                self._drop(conn)
                return
            state.authenticated, got = True, got[1:]
        reports = [pickle.loads(frame) for frame in got]
        reports = [(str(n), o) for n, o in reports if isinstance(o, NodeOutcome)]
        if reports:
            self.deliver(reports)

    def drain(self) -> None:
        """Read whatever already arrived on every connection (before deciding a report
        is missing)."""
        for conn in list(self._conns):
            if conn in self._conns:
                self._read(conn)

    def _drop(self, conn: socket.socket) -> None:
        self._conns.pop(conn, None)
        self.loop.remove_reader(conn)
        conn.close()

    def close(self) -> None:
        for conn in list(self._conns):
            self._drop(conn)
        self.loop.remove_reader(self._sock)
        self._sock.close()


class _Conn:
    def __init__(self) -> None:
        self.buffer = b""
        self.authenticated = False

    def frames(self) -> list[bytes] | None:
        """Complete frames taken from the buffer; None for a malformed stream."""
        out, buf, at = [], self.buffer, 0
        while len(buf) - at >= 4:
            (size,) = _LEN.unpack_from(buf, at)
            if size > _MAX_FRAME or (not self.authenticated and not out and size != 16):
                return None
            if len(buf) - at - 4 < size:
                break
            out.append(buf[at + 4:at + 4 + size])
            at += 4 + size
        self.buffer = buf[at:]
        return out


def _frame(payload: bytes) -> bytes:
    return _LEN.pack(len(payload)) + payload


_SENDERS: dict[Reply, socket.socket] = {}  # by run: a new run never meets an old socket
_SEND_LOCK = threading.Lock()
_KEEP = 8  # connections a worker keeps open (one per recent run)
CONNECT_TIMEOUT = 5.0  # seconds; a port a firewall drops costs a task this once
RETRY_AFTER = 30.0  # a driver found unreachable is not tried again for this long
_UNREACHABLE: dict[Reply, float] = {}  # reply -> when connecting to it last failed


def send(reply: Reply, node_id: str, outcome: NodeOutcome) -> None:
    """Send one report to the driver (worker side); raises OSError when it cannot."""
    send_many(reply, [(node_id, outcome)])


def send_many(reply: Reply, outcomes: list[tuple[str, NodeOutcome]]) -> None:
    """Send reports to the driver in one write (a fused group's); raises OSError when it
    cannot."""
    host, port, token = reply
    frame = b"".join(_frame(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
                     for item in outcomes)
    with _SEND_LOCK:
        conn = _SENDERS.get(reply)
        if conn is not None:
            try:
                conn.sendall(frame)
                return
            except OSError:
                _close(reply)
        failed_at = _UNREACHABLE.get(reply)
        if failed_at is not None and time.monotonic() - failed_at < RETRY_AFTER:
            raise ConnectionError(f"the driver at {host}:{port} was unreachable moments ago")
        try:
            conn = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        except OSError:
            while len(_UNREACHABLE) >= _KEEP:
                del _UNREACHABLE[next(iter(_UNREACHABLE))]
            _UNREACHABLE[reply] = time.monotonic()
            raise
        _UNREACHABLE.pop(reply, None)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            conn.sendall(_frame(token) + frame)
        except OSError:
            conn.close()
            raise
        while len(_SENDERS) >= _KEEP:
            _close(next(iter(_SENDERS)))
        _SENDERS[reply] = conn


def _close(reply: Reply) -> None:
    conn = _SENDERS.pop(reply, None)
    if conn is not None:
        conn.close()


def try_send(reply: Reply, node_id: str, outcome: NodeOutcome) -> None:
    """A failure's report: best effort (the executor's watchdog finds it anyway)."""
    try:
        send(reply, node_id, outcome)
    except OSError as err:
        log.debug("digestflow: could not report %s's failure: %s", node_id, err)

