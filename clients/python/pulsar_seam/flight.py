"""A parallel read over the gateway's Arrow Flight service, with pyarrow.flight underneath.

GetFlightInfo plans the read into one endpoint per history segment (a ledger of one
partition); each endpoint is read with DoGet on a thread pool, at its first location when
the gateway names a fleet (`--flight-locations`), else at the gateway that planned it. The
endpoints' tables are concatenated in endpoint order: Pulsar order within each partition.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
from pyarrow import flight

from .client import Time, _pem, _request

Request = str | dict
"""A topic (read from earliest to what it holds now), or a ReadStreamRequest in its JSON form."""


def _descriptor(request: Request, start, end, columns) -> flight.FlightDescriptor:
    if isinstance(request, dict):
        if start is not None or end != "at_open" or columns is not None:
            raise ValueError("a request dict carries its own start, end and columns")
        return flight.FlightDescriptor.for_command(json.dumps(request))
    if start is None and end == "at_open" and columns is None:
        return flight.FlightDescriptor.for_path(request)
    if end == "follow":
        raise ValueError("read_parallel reads a bounded range: end='follow' never ends")
    message = _request(request, start, end, columns, None, None)
    return flight.FlightDescriptor.for_command(message.SerializeToString())


def read_parallel(
    address: str,
    request: Request,
    start=None,
    end: str | Time = "at_open",
    columns: Sequence[str] | None = None,
    max_workers: int = 4,
    tls: bool = False,
    ca: bytes | str | os.PathLike | None = None,
    cert: bytes | str | os.PathLike | None = None,
    key: bytes | str | os.PathLike | None = None,
    token: str | Callable[[], str] | None = None,
) -> pa.Table:
    """Plans a bounded read with GetFlightInfo and reads its endpoints, `max_workers` at once.

    address: host:port of the gateway (or a grpc:// / grpc+tls:// location).
    request: a topic, or a ReadStreamRequest as a JSON-like dict (e.g. the result of the
             seam.LastMessageIds action, or {"topic": ..., "startPositions": ...}).
    start, end, columns: as for `read` (start: None/"earliest", "latest", a publish time,
             {"message_id": ...}); end: "at_open" (default) or a publish time.
    tls, ca, cert, key: TLS (implied by ca or cert), a private CA, a client certificate (mTLS).
    token: a Pulsar token (JWT), or a function returning the current one, sent as
           "authorization: Bearer ..." on every call. Tokens only travel over TLS.

    Returns one table with the read's schema: every endpoint's rows, in endpoint order, so in
    Pulsar order per partition. Errors raise pyarrow.flight's exceptions, whose message starts
    with the gateway's status in words ("invalid argument: ...", "data loss: ...").
    """
    if token is not None and not (tls or ca or cert):
        raise ValueError("a token is only sent over TLS: pass tls=True or ca=...")
    secure = bool(tls or ca or cert)
    scheme = "grpc+tls" if secure else "grpc"
    planner = address if "://" in address else f"{scheme}://{address}"
    connect = {}
    if ca is not None:
        connect["tls_root_certs"] = _pem(ca)
    if cert is not None:
        connect["cert_chain"], connect["private_key"] = _pem(cert), _pem(key)

    def options():
        if token is None:
            return flight.FlightCallOptions()
        current = token() if callable(token) else token
        return flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {current}".encode())])

    clients: dict[str, flight.FlightClient] = {}
    lock = threading.Lock()

    def client(uri: str) -> flight.FlightClient:
        with lock:
            if uri not in clients:
                clients[uri] = flight.FlightClient(uri, **connect)
            return clients[uri]

    try:
        info = client(planner).get_flight_info(_descriptor(request, start, end, columns), options())

        def fetch(endpoint) -> pa.Table:
            uri = endpoint.locations[0].uri.decode() if endpoint.locations else planner
            return client(uri).do_get(endpoint.ticket, options()).read_all()

        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            tables = list(pool.map(fetch, info.endpoints))
        return pa.concat_tables(tables) if tables else info.schema.empty_table()
    finally:
        for c in clients.values():
            c.close()
