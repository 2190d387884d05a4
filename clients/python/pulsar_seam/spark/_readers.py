"""The batch and streaming readers: planning on the driver (GetFlightInfo: one Spark
partition per Flight endpoint), reading on the executors (DoGet of one endpoint)."""

from __future__ import annotations

import base64
import datetime
import sys
from collections.abc import Iterator, Sequence

import pyarrow as pa
from pyspark.sql.datasource import (
    DataSourceReader,
    DataSourceStreamReader,
    EqualTo,
    Filter,
    GreaterThan,
    GreaterThanOrEqual,
    InputPartition,
    LessThan,
    LessThanOrEqual,
)
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import StructType

from ._flight import DataLossError, Endpoint, Gateway, MessageId
from ._options import SourceOptions, _rfc3339
from ._types import batch_converter

PUBLISH_TIME = ("__publishTime",)


class SeamPartition(InputPartition):
    """One Flight endpoint as a Spark input partition: its ticket, and what it covers."""

    def __init__(self, endpoint: Endpoint):
        super().__init__(endpoint.ticket)
        self.topic = endpoint.topic
        self.partition = endpoint.partition
        self.ledger_id = endpoint.ledger_id
        self.first_entry = endpoint.first_entry
        self.last_entry = endpoint.last_entry
        self.stored_bytes = endpoint.stored_bytes


def _read(options: SourceOptions, schema: StructType, partition: InputPartition) -> Iterator[pa.RecordBatch]:
    if not isinstance(partition, SeamPartition):
        return  # Spark reads one empty partition when the plan has none
    convert = batch_converter(schema)
    with Gateway(options) as gateway:
        try:
            for batch in gateway.read(partition.value):
                yield convert(batch)
        except DataLossError as error:
            if options.fail_on_data_loss:
                raise DataLossError(f"{error} (set failOnDataLoss=false to skip lost ranges)") from error
            # Retention deleted the range between planning and reading: its rows are gone.
            print(f"pulsar_seam.spark: skipping a lost range of {partition.topic} ledger "
                  f"{partition.ledger_id} (failOnDataLoss=false): {error}", file=sys.stderr)


def _columns(schema: StructType) -> list[str]:
    return [f.name for f in schema.fields]


# -- batch ------------------------------------------------------------------------------------


def _ms_floor(moment: datetime.datetime) -> tuple[int, bool]:
    """A Spark timestamp literal as (ms since the epoch, rounded down; whether it had a
    sub-millisecond part). Naive values are UTC (Variant timestamp_ntz)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    micros = round(moment.timestamp() * 1_000_000)
    return micros // 1000, micros % 1000 != 0


class SeamBatchReader(DataSourceReader):
    """`spark.read.format("seam")`: one partition per Flight endpoint (a ledger's range of
    one Pulsar partition), so a topic with few partitions and many ledgers spreads over
    every executor."""

    def __init__(self, options: SourceOptions, schema: StructType):
        self.options = options
        self.schema = schema
        self.window_start: int | None = None  # ms, inclusive
        self.window_end: int | None = None  # ms, exclusive

    def pushFilters(self, filters: list[Filter]) -> Iterator[Filter]:
        """`__publishTime` comparisons narrow a publish-time window sent to the gateway,
        which skips the segments outside it. Every filter is still returned to Spark, which
        applies it to the rows: the window prunes by segment and cuts each partition at a
        seek by time, which assumes publish times that do not decrease along a partition."""
        for f in filters:
            if getattr(f, "attribute", None) == PUBLISH_TIME and isinstance(f.value, datetime.datetime):
                ms, fraction = _ms_floor(f.value)
                if isinstance(f, (GreaterThan, GreaterThanOrEqual, EqualTo)):
                    first = ms + 1 if isinstance(f, GreaterThan) or fraction else ms
                    self.window_start = max(first, self.window_start or first)
                if isinstance(f, (LessThan, LessThanOrEqual, EqualTo)):
                    end = ms if isinstance(f, LessThan) and not fraction else ms + 1
                    self.window_end = min(end, self.window_end or end)
            yield f

    def request(self) -> dict | None:
        """The ReadStreamRequest (proto3 JSON) this read plans with; None when the window is
        empty."""
        options = self.options
        command = options.request()
        command["columns"] = _columns(self.schema)
        start, end = self.window_start, self.window_end
        if start is not None and options.start != "latest" and not isinstance(options.start, bytes):
            begin = max(start, options.start) if isinstance(options.start, int) else start
            command.pop("earliest", None)
            command["startPublishTime"] = _rfc3339(begin)
        if end is not None and (options.end == "latest" or isinstance(options.end, int)):
            finish = min(end, options.end) if isinstance(options.end, int) else end
            command.pop("atOpen", None)
            command["endPublishTime"] = _rfc3339(finish)
        if command.get("startPublishTime", "") >= command.get("endPublishTime", "~"):
            return None  # an empty window (RFC 3339 strings of one format compare as times)
        return command

    def partitions(self) -> list[SeamPartition]:
        command = self.request()
        if command is None:
            return []
        with Gateway(self.options) as gateway:
            endpoints = gateway.plan(command)
        # A tail endpoint holds what is published after planning (an end time not reached
        # yet): a batch read is what the topic held when it was planned, as `at_open` reads.
        return [SeamPartition(e) for e in endpoints if e.ledger_id is not None]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        return _read(self.options, self.schema, partition)


# -- streaming --------------------------------------------------------------------------------

Positions = dict[int, dict]
"""Partition index → a `PartitionPosition` in proto3 JSON (without its partition)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _offset(topic: str, positions: Positions) -> dict:
    """An offset: the positions where every partition continues, as Spark checkpoints it."""
    return {"topic": topic, "positions": [{"partition": p, **positions[p]} for p in sorted(positions)]}


def _positions(offset: dict) -> Positions:
    return {int(p["partition"]): {k: v for k, v in p.items() if k != "partition"} for p in offset["positions"]}


class SeamStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """`spark.readStream.format("seam")`. An offset is where each partition continues (the
    `startPositions` of a ReadStreamRequest); a micro-batch from offset A to offset B is
    GetFlightInfo(startPositions A, endPositions B), whose endpoints depend only on (A, B),
    so a batch replayed after a restart reads exactly the same messages. The gateway keeps
    no state: commit does nothing."""

    def __init__(self, options: SourceOptions, schema: StructType):
        self.options = options
        self.schema = schema
        self.target: dict[int, bytes] | None = None

    def _last_message_ids(self) -> dict[int, bytes]:
        with Gateway(self.options) as gateway:
            return gateway.last_message_ids(self.options.topic)

    def initialOffset(self) -> dict:
        start = self.options.start
        ends = self._last_message_ids()
        positions: Positions = {}
        for p, last in ends.items():
            if start == "earliest" or (start == "latest" and not last):
                positions[p] = {"fromEarliest": True}
            elif start == "latest":
                positions[p] = {"afterMessageId": _b64(last)}
            elif isinstance(start, int):
                positions[p] = {"fromPublishTimeMs": start}
            else:
                if len(ends) != 1:
                    raise ValueError("start=id:... names one message: read one partition "
                                     "(topic ...-partition-N) or a non-partitioned topic")
                positions[p] = {"atMessageId": _b64(start)}
        return _offset(self.options.topic, positions)

    def getDefaultReadLimit(self) -> ReadLimit:
        # Spark's read limits count rows; this source counts entries (see latestOffset).
        limit = self.options.max_entries_per_trigger
        return ReadMaxRows(limit) if limit else ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:
        # AvailableNow reads up to what the topic holds now, in as many batches as the read
        # limit makes, then stops.
        self.target = self._last_message_ids()

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        """Every partition's last message now (or at AvailableNow's target). With
        maxEntriesPerTrigger, the range is cut to about that many entries (a Pulsar entry
        is one producer batch: how many records it holds is not known before reading it),
        shared fairly between the partitions with messages to read, at least one entry
        each."""
        ends = self.target if self.target is not None else self._last_message_ids()
        positions = _positions(start)
        latest = {p: {"afterMessageId": _b64(last)} if last else positions.get(p, {"fromEarliest": True})
                  for p, last in ends.items()}
        for p, position in positions.items():
            latest.setdefault(p, position)  # never forget a partition
        if isinstance(limit, ReadMaxRows) and latest != positions:
            latest = self._capped(positions, latest, limit.max_rows)
        return _offset(self.options.topic, latest)

    def _capped(self, start: Positions, end: Positions, budget: int) -> Positions:
        by_partition: dict[int, list[Endpoint]] = {}
        for e in self._plan(start, end):
            by_partition.setdefault(e.partition, []).append(e)
        available = {p: sum(e.entries for e in es) for p, es in by_partition.items()}
        share = _fair_shares(available, budget)
        capped = dict(end)
        for p, endpoints in by_partition.items():
            if share[p] >= available[p]:
                continue
            left = share[p]
            for e in endpoints:
                if left <= e.entries:
                    cut = MessageId(e.ledger_id or 0, e.first_entry + left - 1, e.partition)
                    capped[p] = {"afterMessageId": _b64(cut.entry())}
                    break
                left -= e.entries
        return capped

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        if start == end:
            return []
        endpoints = self._plan(_positions(start), _positions(end))
        if any(e.ledger_id is None for e in endpoints):
            raise RuntimeError("the gateway planned a tail for a micro-batch whose ends are all "
                               "written messages: this Seam gateway does not honour endPositions")
        return [SeamPartition(e) for e in endpoints]

    def _command(self, topic: str, start: Positions, end: Positions) -> dict:
        starts = {p: start.get(p, {"fromEarliest": True}) for p in end}  # new partitions: earliest
        return {
            "topic": topic,
            "startPositions": {"positions": [{"partition": p, **starts[p]} for p in sorted(starts)]},
            # An end that is not "after a message" has not moved: read nothing there ("").
            "endPositions": {"ends": [{"partition": p, "lastMessageId": end[p].get("afterMessageId", "")}
                                      for p in sorted(end)]},
            "columns": _columns(self.schema),
        }

    def _plan(self, start: Positions, end: Positions) -> list[Endpoint]:
        with Gateway(self.options) as gateway:
            try:
                return gateway.plan(self._command(self.options.topic, start, end))
            except DataLossError as error:
                if self.options.fail_on_data_loss:
                    raise DataLossError(
                        f"{error} (messages this query had not read yet are gone; set "
                        "failOnDataLoss=false to go on from the earliest message left)"
                    ) from error
            # failOnDataLoss=false: plan each partition alone; one whose start is gone goes on
            # from its earliest message left. The same holds on a replay, so a batch replayed
            # after a restart reads the same rows unless retention deleted even more.
            endpoints: list[Endpoint] = []
            for p in sorted(end):
                topic = self._partition_topic(p)
                one_start, one_end = {p: start.get(p, {"fromEarliest": True})}, {p: end[p]}
                try:
                    endpoints += gateway.plan(self._command(topic, one_start, one_end))
                except DataLossError as error:
                    print(f"pulsar_seam.spark: {topic}: messages were lost before this query read "
                          f"them; going on from the earliest left (failOnDataLoss=false): {error}",
                          file=sys.stderr)
                    endpoints += gateway.plan(self._command(topic, {p: {"fromEarliest": True}}, one_end))
            return endpoints

    def _partition_topic(self, p: int) -> str:
        topic = self.options.topic
        if p < 0 or topic.endswith(f"-partition-{p}"):
            return topic
        return f"{topic}-partition-{p}"

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        return _read(self.options, self.schema, partition)

    def commit(self, end: dict) -> None:
        """Nothing to do: the gateway keeps no cursor, the offsets are the state."""


def _fair_shares(available: dict[int, int], budget: int) -> dict[int, int]:
    """Splits `budget` entries between partitions: equal shares, what a partition cannot use
    going to the others; at least one entry each, so every partition moves."""
    share = {p: 0 for p in available}
    left = dict(available)
    remaining = budget
    while remaining > 0 and any(left.values()):
        active = [p for p in left if left[p] > 0]
        each = max(1, remaining // len(active))
        for p in active:
            take = min(each, left[p], remaining)
            share[p] += take
            left[p] -= take
            remaining -= take
            if remaining == 0:
                break
    for p, entries in available.items():
        share[p] = max(share[p], min(1, entries))
    return share
