"""Spark reads Pulsar through Seam (pulsar_seam.spark): a real local Spark (local[2], one
session for the module), the real gateway, a real Pulsar, topics written by the official
producer and checked against the official reader."""

import json
import os
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.datasource import GreaterThanOrEqual, LessThan

from pulsar_seam.spark import SeamDataSource, register

from conftest import ADMIN_URL, ROOT, Gateway, fresh_topic, read_official

JAVA_17 = "/usr/lib/jvm/java-17-openjdk-amd64"


@pytest.fixture(scope="module")
def spark():
    # Spark's Python workers run `python3` from PATH unless told: make them use this venv.
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    # Spark finds pyspark_seam by listing the modules on its Python workers' sys.path, which
    # an editable install (this venv's) does not extend: put the package's folder there, as
    # a regular install's site-packages is.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "clients/python"), os.environ.get("PYTHONPATH")) if p)
    if "JAVA_HOME" not in os.environ and Path(JAVA_17).is_dir():
        os.environ["JAVA_HOME"] = JAVA_17
    session = (SparkSession.builder.master("local[2]").appName("seam-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "2")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    register(session)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def gateway():
    """A gateway of this module's own whose log lines are read as they come: the Spark tests
    make hundreds of calls, and a gateway whose stdout pipe fills up blocks on its next log
    line (conftest's session gateway reads only up to its start-up line)."""
    gw = Gateway()
    gw.start()
    drain = threading.Thread(target=lambda: [None for _ in gw.process.stdout], daemon=True)
    drain.start()
    yield gw
    gw.stop()


def admin(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{ADMIN_URL}/admin/v2/{path}", data=data, method=method,
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def partitioned(label, partitions=4):
    topic = fresh_topic(label)
    admin("PUT", f"persistent/public/default/{topic.rsplit('/', 1)[1]}/partitions", partitions)
    return topic


def unload(topic):
    admin("PUT", f"persistent/public/default/{topic.rsplit('/', 1)[1]}/unload")


def official_ids(pulsar_client, topic, partitions=4):
    """The official reader's message ids per partition topic, in order."""
    return {f"{topic}-partition-{i}": [m.message_id().serialize()
                                       for m in read_official(pulsar_client, f"{topic}-partition-{i}")]
            for i in range(partitions)}


def ids_by_partition(rows):
    out = {}
    for topic, mid in rows:
        out.setdefault(topic, []).append(bytes(mid))
    return out


def options(gateway, topic, **extra):
    return {"gateway": f"grpc://{gateway.address}", "topic": topic, **{k: str(v) for k, v in extra.items()}}


@pytest.fixture(scope="module")
def ledgers_topic(pulsar_client):
    """4 partitions, 5 rounds of messages, the topic unloaded after each round so that each
    round lies in a ledger of its own in every partition."""
    topic = partitioned("spark-ledgers")
    for round_ in range(5):
        producer = pulsar_client.create_producer(topic, batching_max_publish_delay_ms=5)
        for i in range(200):
            producer.send_async(f"round {round_} message {i}".encode(), None, partition_key=f"k{i % 40}")
        producer.flush()
        producer.close()
        unload(topic)
        time.sleep(0.05)  # rounds apart in publish time
    return topic


def test_a_batch_read_has_a_spark_partition_per_segment_and_the_official_readers_rows(
        spark, gateway, pulsar_client, ledgers_topic):
    df = spark.read.format("seam").options(**options(gateway, ledgers_topic)).load()
    assert df.schema["__publishTime"].dataType.typeName() == "timestamp"
    # 4 Pulsar partitions of 5 ledgers each: an endpoint (a Spark partition) per ledger.
    assert df.rdd.getNumPartitions() == 20
    rows = df.select("__topic", "__messageId").collect()
    assert len(rows) == 1000
    assert ids_by_partition(rows) == official_ids(pulsar_client, ledgers_topic)


def test_a_publish_time_window_reads_only_the_segments_that_overlap_it(
        spark, gateway, pulsar_client, ledgers_topic):
    official = [m for i in range(4) for m in read_official(pulsar_client, f"{ledgers_topic}-partition-{i}")]
    rounds = {}
    for m in official:
        rounds.setdefault(int(m.data().split()[1]), []).append(m)
    start = min(m.publish_timestamp() for m in rounds[2])
    end = min(m.publish_timestamp() for m in rounds[4])
    expected = {m.message_id().serialize() for m in official if start <= m.publish_timestamp() < end}
    assert len(expected) >= 400  # rounds 2 and 3

    import datetime

    def at(ms):
        return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)

    df = (spark.read.format("seam").options(**options(gateway, ledgers_topic)).load()
          .filter((F.col("__publishTime") >= at(start)) & (F.col("__publishTime") < at(end))))
    assert {bytes(r[0]) for r in df.select("__messageId").collect()} == expected

    # The endpoints that read planned: the ledgers of rounds 2 and 3, and at most the first
    # entry of round 4's (where each partition's reading stops).
    source = SeamDataSource(options(gateway, ledgers_topic))
    reader = source.reader(source.schema())
    list(reader.pushFilters([GreaterThanOrEqual(("__publishTime",), at(start)),
                             LessThan(("__publishTime",), at(end))]))
    planned = reader.partitions()
    ledger_of = {m.message_id().ledger_id(): int(m.data().split()[1]) for m in official}
    in_window = [p for p in planned if ledger_of[p.ledger_id] in (2, 3)]
    assert {p.ledger_id for p in in_window} == {lid for lid, r in ledger_of.items() if r in (2, 3)}
    assert all(ledger_of[p.ledger_id] == 4 and p.first_entry == p.last_entry
               for p in planned if p not in in_window)
    assert df.rdd.getNumPartitions() == len(planned) < 20
    everything = SeamDataSource(options(gateway, ledgers_topic))
    all_bytes = sum(p.stored_bytes for p in everything.reader(everything.schema()).partitions())
    assert sum(p.stored_bytes for p in planned) < 0.6 * all_bytes


def produce_keyed(pulsar_client, topic, count, keys, pause_every=0, pause_s=0.0):
    """Values "<key> <sequence>", the sequence counting per key, through one producer."""
    producer = pulsar_client.create_producer(topic, batching_max_publish_delay_ms=5)
    for i in range(count):
        key = f"k{i % keys}"
        producer.send_async(f"{key} {i // keys}".encode(), None, partition_key=key)
        if pause_every and i % pause_every == pause_every - 1:
            producer.flush()
            time.sleep(pause_s)
    producer.flush()
    producer.close()


def sink_rows(folder):
    """The rows foreachBatch wrote, batch after batch, in the order Spark delivered them."""
    tables = []
    for path in sorted(Path(folder).glob("batch-*.arrow")):
        with pa.ipc.open_file(path) as f:
            tables.append(f.read_all())
    return pa.concat_tables(tables) if tables else None


def write_batch_to(folder):
    def write(df, batch_id):
        table = df.toArrow()
        # One file per batch id: a batch replayed after a restart overwrites its own file.
        with pa.ipc.new_file(Path(folder) / f"batch-{batch_id:06d}.arrow", table.schema) as w:
            w.write_table(table)
    return write


def test_a_stream_restarted_from_its_checkpoint_across_an_unload_has_every_message_once_in_order(
        spark, gateway, pulsar_client, tmp_path):
    topic = partitioned("spark-stream")
    total, keys = 3000, 20
    writer = threading.Thread(target=produce_keyed, args=(pulsar_client, topic, total, keys, 100, 0.25))
    writer.start()
    sink, checkpoint = tmp_path / "sink", tmp_path / "checkpoint"
    sink.mkdir()

    def start():
        return (spark.readStream.format("seam")
                .options(**options(gateway, topic, maxEntriesPerTrigger=40,
                                   columns="value,__key,__topic,__messageId")).load()
                .writeStream.foreachBatch(write_batch_to(sink))
                .option("checkpointLocation", str(checkpoint))
                .trigger(processingTime="500 milliseconds").start())

    def rows():
        table = sink_rows(sink)
        return 0 if table is None else table.num_rows

    query = start()
    try:
        deadline = time.monotonic() + 120
        while rows() < 600 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert rows() >= 600
        query.stop()
        unload(topic)  # the partitions move to new ledgers while the query is down
        query = start()
        writer.join(120)
        deadline = time.monotonic() + 180
        while rows() < total and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        query.stop()
        writer.join(60)
    table = sink_rows(sink)
    assert table.num_rows == total  # no duplicate
    delivered = ids_by_partition(zip(table.column("__topic").to_pylist(), table.column("__messageId").to_pylist()))
    assert delivered == official_ids(pulsar_client, topic)  # no gap, in Pulsar order
    sequences = {}
    for value in table.column("value").to_pylist():
        key, sequence = value.decode().split()
        sequences.setdefault(key, []).append(int(sequence))
    assert sequences == {f"k{k}": list(range(total // keys)) for k in range(keys)}  # in order per key


def test_available_now_reads_the_backlog_in_batches_then_stops(spark, gateway, pulsar_client):
    topic = partitioned("spark-available-now", 2)
    produce_keyed(pulsar_client, topic, 600, 10, pause_every=50, pause_s=0.01)
    query = (spark.readStream.format("seam")
             .options(**options(gateway, topic, maxEntriesPerTrigger=30, columns="__topic,__messageId")).load()
             .writeStream.format("memory").queryName("available_now").trigger(availableNow=True).start())
    assert query.awaitTermination(180)  # it stops by itself
    batches = [p for p in query.recentProgress if p["numInputRows"] > 0]
    assert len(batches) > 1  # the read limit cut the backlog into several micro-batches
    rows = spark.sql("SELECT __topic, __messageId FROM available_now").collect()
    assert len(rows) == 600
    assert {t: sorted(ids) for t, ids in ids_by_partition(rows).items()} == \
        {t: sorted(ids) for t, ids in official_ids(pulsar_client, topic, 2).items()}


def test_spark_finds_the_seam_format_by_itself_without_register(spark, gateway, pulsar_client, ledgers_topic):
    # A new session shares the SparkContext but not what register() registered on this one:
    # "seam" comes from Spark's own lookup of pyspark_* modules (pyspark_seam.DefaultSource).
    session = spark.newSession()
    assert session.conf.get("spark.sql.python.filterPushdown.enabled") == "false"
    reader = session.read.format("seam").options(**options(gateway, ledgers_topic))
    # Batch reads push __publishTime filters down, which Spark refuses while the session's
    # pushdown setting is off: the error names it.
    with pytest.raises(Exception, match="spark.sql.python.filterPushdown.enabled"):
        reader.load().count()
    session.conf.set("spark.sql.python.filterPushdown.enabled", "true")
    rows = reader.load().select("__topic", "__messageId").collect()
    assert ids_by_partition(rows) == official_ids(pulsar_client, ledgers_topic)


def worker_stderr(request):
    """What the JVM (and the Python workers it copies) wrote to stderr since the last call:
    the JVM writes to pytest's capture file from when the session started, which capfd
    does not see. Empty when pytest does not capture (-s)."""
    return request.config.pluginmanager.getplugin("capturemanager").read_global_capture()[1]


def truncate(topic):
    """Deletes every ledger of the topic, as `pulsar-admin topics truncate` does."""
    admin("DELETE", f"persistent/public/default/{topic.rsplit('/', 1)[1]}/truncate")


@pytest.mark.parametrize("fail_on_data_loss", [False, True])
def test_data_deleted_between_micro_batches_fails_the_query_or_with_fail_on_data_loss_false_is_skipped(
        spark, gateway, pulsar_client, tmp_path, request, fail_on_data_loss):
    topic = partitioned("spark-loss", 2)
    sink, checkpoint = tmp_path / "sink", tmp_path / "checkpoint"
    sink.mkdir()

    def run():
        return (spark.readStream.format("seam")
                .options(**options(gateway, topic, failOnDataLoss=str(fail_on_data_loss).lower(),
                                   columns="value,__topic,__messageId")).load()
                .writeStream.foreachBatch(write_batch_to(sink))
                .option("checkpointLocation", str(checkpoint))
                .trigger(availableNow=True).start())

    produce_keyed(pulsar_client, topic, 100, 10)
    assert run().awaitTermination(120)
    assert sink_rows(sink).num_rows == 100
    # While the query is down (between its micro-batches): 50 more it never reads, then
    # every ledger deleted (the unload closes the ledgers: truncation keeps an open one),
    # then 40 written after.
    produce_keyed(pulsar_client, topic, 50, 10)
    unload(topic)
    truncate(topic)
    produce_keyed(pulsar_client, topic, 40, 10)
    after = official_ids(pulsar_client, topic, 2)
    assert sum(len(ids) for ids in after.values()) == 40  # only what was written after is left
    worker_stderr(request)
    query = run()
    if fail_on_data_loss:
        with pytest.raises(Exception, match="(?s)data loss.*failOnDataLoss=false"):
            query.awaitTermination(120)
        assert sink_rows(sink).num_rows == 100
        return
    assert query.awaitTermination(120)
    table = sink_rows(sink)
    later = table.slice(100)
    assert later.num_rows == 40  # the query went on, from the earliest message left
    assert ids_by_partition(zip(later.column("__topic").to_pylist(), later.column("__messageId").to_pylist())) == after
    # The warning, from the planning worker (Spark copies its workers' stderr to its own).
    if request.config.pluginmanager.getplugin("capturemanager").is_globally_capturing():
        assert worker_stderr(request).count("messages were lost before this query read them") == 2
