"""The Seam client: one ReadStream call as Arrow record batches.

ReadStream responses are Arrow Flight `FlightData` messages: an IPC message header
(`data_header`), its body (`data_body`) and Seam's metadata (`app_metadata`). This module
frames them back into an Arrow IPC stream for pyarrow, one record batch at a time.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import struct
import time
from collections.abc import Callable, Iterator, Sequence

import grpc
import pyarrow as pa

from ._generated.seam.v1 import seam_pb2

_METHOD = "/seam.v1.SeamService/ReadStream"
_TOKEN_TRAILER = "seam-resume-token-bin"
_CONTINUATION = b"\xff\xff\xff\xff"
_END_OF_STREAM = _CONTINUATION + b"\x00\x00\x00\x00"

Time = datetime.datetime | int | float
"""A datetime, or milliseconds since the epoch."""


class SeamError(Exception):
    """A stream that ended with an error status; `resume_token` says where to go on."""

    def __init__(self, code: grpc.StatusCode, details: str, resume_token: bytes | None):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.resume_token = resume_token


@dataclasses.dataclass
class BatchInfo:
    """What Seam says about a record batch."""

    phase: str
    """"history" or "tail"; once a read has reached the tail, later batches are "tail", rows
    a resumed stream catches up on from storage included."""
    resume_token: bytes
    """Pass as `start={"resume_token": ...}` to continue right after this batch."""
    history_rows: int
    history_bytes_read: int
    history_bytes_expected: int


def credentials(
    ca: bytes | str | os.PathLike | None = None,
    cert: bytes | str | os.PathLike | None = None,
    key: bytes | str | os.PathLike | None = None,
    token: str | Callable[[], str] | None = None,
) -> grpc.ChannelCredentials:
    """Credentials for a gateway that serves TLS: pass as `credentials=` to `read`/`stream`.

    ca:   the CA to trust (PEM bytes or a file); default: the system's CAs.
    cert, key: a client certificate and its key, for a gateway that requires mTLS.
    token: a Pulsar token (JWT) sent as "authorization: Bearer ..." with every call, or a
           function returning the current one (called per call, so a renewed token is used
           by the next stream and by resumes). Tokens only travel over TLS.
    """
    if (cert is None) != (key is None):
        raise ValueError("cert and key go together")
    channel = grpc.ssl_channel_credentials(_pem(ca), _pem(key), _pem(cert))
    if token is None:
        return channel
    current = token if callable(token) else (lambda: token)

    def bearer(_context, callback):
        callback((("authorization", f"Bearer {current()}"),), None)

    return grpc.composite_channel_credentials(channel, grpc.metadata_call_credentials(bearer))


def _pem(value) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    with open(value, "rb") as file:
        return file.read()


def _millis(value: Time) -> int:
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return int(value)


def _timestamp(message, value: Time) -> None:
    ms = _millis(value)
    message.seconds, message.nanos = divmod(ms, 1000)
    message.nanos *= 1_000_000


def _request(topic, start, end, columns, max_rows, token) -> seam_pb2.ReadStreamRequest:
    request = seam_pb2.ReadStreamRequest(topic=topic, columns=list(columns or []))
    if token is not None:
        request.resume_token = token
    elif start in (None, "earliest"):
        request.earliest.SetInParent()
    elif start == "latest":
        request.latest.SetInParent()
    elif isinstance(start, dict) and "message_id" in start:
        request.message_id = start["message_id"]
    elif isinstance(start, dict) and "resume_token" in start:
        request.resume_token = start["resume_token"]
    else:
        _timestamp(request.start_publish_time, start)
    if end == "at_open":
        request.at_open.SetInParent()
    elif end == "follow":
        request.follow.SetInParent()
    else:
        _timestamp(request.end_publish_time, end)
    if max_rows:
        request.batching.max_rows = max_rows
    return request


def _frame(header: bytes, body: bytes) -> bytes:
    return _CONTINUATION + struct.pack("<i", len(header)) + header + body


def stream(*args, **options) -> Iterator[tuple[pa.RecordBatch, BatchInfo]]:
    """Yields (record batch, BatchInfo) in order: history, then (with end="follow") the tail.

    Arguments as for `_events`.
    """
    for event in _events(*args, **options):
        if not isinstance(event, pa.Schema):
            yield event


def _events(
    address: str,
    topic: str,
    start=None,
    end: str | Time = "at_open",
    columns: Sequence[str] | None = None,
    max_rows: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    max_resumes: int = 10,
) -> Iterator[pa.Schema | tuple[pa.RecordBatch, BatchInfo]]:
    """The stream's schema (again after each resume), then (record batch, BatchInfo) pairs.

    start: None/"earliest", "latest", a datetime or epoch ms (publish time),
           {"message_id": bytes} (inclusive) or {"resume_token": bytes} (exclusive).
    end:   "at_open" (default: what the topic holds now), "follow", or a publish time.
    credentials: for a gateway serving TLS, from `credentials(...)`; default: plaintext.
    """
    channel = grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)
    call = channel.unary_stream(
        _METHOD,
        request_serializer=seam_pb2.ReadStreamRequest.SerializeToString,
        response_deserializer=seam_pb2.ReadStreamResponse.FromString,
    )
    token: bytes | None = None
    resumes = 0
    live = False  # phases belong to the read: once it reached the tail, no batch is history
    try:
        while True:
            responses = call(_request(topic, start, end, columns, max_rows, token))
            try:
                for event in _decode(responses):
                    if not isinstance(event, pa.Schema):
                        batch, info = event
                        token = info.resume_token
                        resumes = 0
                        live = live or info.phase == "tail"
                        if live and info.phase == "history":
                            event = batch, dataclasses.replace(info, phase="tail")
                    yield event
                cut_short = _trailer_token(responses)
                if cut_short is None:
                    return
                token = cut_short  # the gateway shut down: go on elsewhere
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or resumes >= max_resumes:
                    raise SeamError(error.code(), error.details() or "", _trailer_token(error)) from None
                token = _trailer_token(error) or token
            resumes += 1
            time.sleep(min(0.1 * 2**resumes, 5))
    finally:
        channel.close()


def _trailer_token(call) -> bytes | None:
    for key, value in call.trailing_metadata() or ():
        if key == _TOKEN_TRAILER:
            return value
    return None


def _decode(responses) -> Iterator[pa.Schema | tuple[pa.RecordBatch, BatchInfo]]:
    schema_frame = b""
    pending = []
    for response in responses:
        meta = seam_pb2.StreamMetadata.FromString(response.app_metadata)
        kind = meta.WhichOneof("kind")
        if kind == "stream_info":
            schema_frame = _frame(response.data_header, response.data_body)
            yield pa.ipc.read_schema(pa.py_buffer(schema_frame))
        elif kind == "batch":
            pending.append(_frame(response.data_header, response.data_body))
            header = pa.ipc.read_message(pending[-1])
            if header.type != "record batch":
                continue  # a dictionary batch: it goes with the record batch after it
            reader = pa.ipc.open_stream(schema_frame + b"".join(pending) + _END_OF_STREAM)
            pending = []
            info = BatchInfo(
                phase="tail" if meta.batch.phase == seam_pb2.PHASE_TAIL else "history",
                resume_token=meta.batch.resume_token,
                history_rows=meta.batch.progress.history_rows,
                history_bytes_read=meta.batch.progress.history_bytes_read,
                history_bytes_expected=meta.batch.progress.history_bytes_expected,
            )
            for batch in reader:
                yield batch, info


def read(address: str, topic: str, **options) -> pa.RecordBatchReader:
    """A pyarrow RecordBatchReader over the stream (options as for `_events`).

    `read(...).read_all()` is an Arrow table; `.to_pandas()`, polars and DuckDB take it.
    """
    events = _events(address, topic, **options)
    schema = next(events)

    def batches():
        for event in events:
            if not isinstance(event, pa.Schema):
                yield event[0]

    return pa.RecordBatchReader.from_batches(schema, batches())
