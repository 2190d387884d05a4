"""The Python side of the benchmark (bench/run.ts runs it): the official Pulsar client
(C++ inside the wheel) as the peer reader, and the Seam Python client.

  official-read TOPIC --count N [--bytes]
                                       reader loop into a pyarrow table, timed
  seam-read ADDRESS TOPIC              pulsar_seam.read(..., end="at_open").read_all(), timed
  spark-read ADDRESS TOPIC [--warmup TOPIC]
                                       Spark local[2], the seam data source into a noop sink, timed
                                       (the SparkSession's start and a warm-up read left out)
  flight-read ADDRESS TOPIC --parallel N
                                       pyarrow.flight: GetFlightInfo, then DoGet of every endpoint,
                                       N at once, into one pyarrow Table, timed (no Seam code)
  official-tail TOPIC                  reader from latest; publish -> receive latency
  seam-tail ADDRESS TOPIC              the same through Seam (end="follow")

Each prints one JSON object on stdout; the tail commands print "ready" on stderr once
reading, and their figures when stdin closes. Latencies are `receive time - __publishTime` on one machine's clock, as a
histogram {microseconds rounded down to 100 µs: count}.
"""

import argparse
import collections
import json
import os
import pathlib
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pulsar_seam
import pyarrow as pa
from pulsar.schema import AvroSchema
from pyarrow import flight

import pulsar

# The records bench/Produce.java writes.
SCHEMA = json.loads((pathlib.Path(__file__).parent / "order.avsc").read_text())
LATENCY_BUCKET_US = 100


def official_read(client, args):
    """The loop a Python user writes: read_next, decode the value, then a pyarrow table."""
    started = time.perf_counter()
    schema = pulsar.schema.BytesSchema() if args.bytes else AvroSchema(None, schema_definition=SCHEMA)
    reader = client.create_reader(args.topic, pulsar.MessageId.earliest, schema=schema)
    rows = []
    size = 0
    for _ in range(args.count):
        message = reader.read_next(30_000)
        size += len(message.data())
        rows.append(message.value())
    if args.bytes:
        table = pa.table({"value": pa.array(rows, pa.binary())})
    else:
        table = pa.Table.from_pylist(rows)
    seconds = time.perf_counter() - started
    reader.close()
    print(json.dumps({"rows": table.num_rows, "bytes": size, "seconds": seconds}))


def seam_read(args):
    started = time.perf_counter()
    table = pulsar_seam.read(args.address, args.topic, end="at_open").read_all()
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": table.num_rows, "arrow_bytes": table.nbytes, "seconds": seconds}))


def flight_read(args):
    """What a Flight user writes: plan, then fetch the endpoints on a thread pool."""
    started = time.perf_counter()
    client = flight.FlightClient(f"grpc://{args.address}")
    info = client.get_flight_info(flight.FlightDescriptor.for_path(args.topic))
    with ThreadPoolExecutor(args.parallel) as pool:
        tables = list(pool.map(lambda e: client.do_get(e.ticket).read_all(), info.endpoints))
    table = pa.concat_tables(tables)
    seconds = time.perf_counter() - started
    client.close()
    print(json.dumps({"rows": table.num_rows, "endpoints": len(info.endpoints), "seconds": seconds}))


def spark_read(args):
    """A Spark batch read of the whole topic: one Spark partition per Flight endpoint."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Spark's workers: this venv
    java_17 = "/usr/lib/jvm/java-17-openjdk-amd64"
    if "JAVA_HOME" not in os.environ and os.path.isdir(java_17):
        os.environ["JAVA_HOME"] = java_17
    from pulsar_seam.spark import register
    from pyspark.sql import Observation, SparkSession
    from pyspark.sql import functions as F

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    register(spark)

    def read(topic):
        started = time.perf_counter()
        frame = spark.read.format("seam").option("gateway", f"grpc://{args.address}")
        frame = frame.option("topic", topic).load()
        # One read: the rows are counted on the way into the sink, not by a second read.
        observed = Observation("read")
        frame = frame.observe(observed, F.count(F.lit(1)).alias("rows"))
        frame.write.format("noop").mode("overwrite").save()
        return observed.get["rows"], time.perf_counter() - started

    try:
        warmup = read(args.warmup)[1] if args.warmup else None
        rows, seconds = read(args.topic)
    finally:
        spark.stop()
    print(json.dumps({"rows": rows, "seconds": seconds, "warmupSeconds": warmup}))


class Latencies:
    """Publish -> receive latency histogram of the messages published after the warm-up."""

    def __init__(self, warmup_ms):
        self.warmup_ms = warmup_ms
        self.first_publish = None
        self.counts = collections.Counter()
        self.received = 0
        self.lock = threading.Lock()

    def add(self, publish_ms, now_ms):
        with self.lock:
            self.received += 1
            if self.first_publish is None:
                self.first_publish = publish_ms
            if publish_ms >= self.first_publish + self.warmup_ms:
                micros = max(0, int((now_ms - publish_ms) * 1000))
                self.counts[micros // LATENCY_BUCKET_US * LATENCY_BUCKET_US] += 1

    def report_at_eof(self):
        """Prints the figures and exits when stdin closes (bench/run.ts closes it once the
        producer is done and the client has had its chance to catch up)."""

        def wait():
            sys.stdin.read()
            with self.lock:
                histogram = {str(k): v for k, v in sorted(self.counts.items())}
                print(json.dumps({"received": self.received, "histogram_us": histogram}), flush=True)
            os._exit(0)

        threading.Thread(target=wait, daemon=True).start()


def official_tail(client, args):
    reader = client.create_reader(args.topic, pulsar.MessageId.latest)
    latencies = Latencies(args.warmup_ms)
    latencies.report_at_eof()
    print("ready", file=sys.stderr, flush=True)
    while True:
        try:
            message = reader.read_next(1000)
        except pulsar.Timeout:
            continue
        latencies.add(message.publish_timestamp(), time.time() * 1000)


def seam_tail(args):
    latencies = Latencies(args.warmup_ms)
    latencies.report_at_eof()
    batches = pulsar_seam.stream(args.address, args.topic, start="latest", end="follow", columns=["__publishTime"])
    print("ready", file=sys.stderr, flush=True)
    for batch, _info in batches:
        now = time.time() * 1000
        for publish_time in batch.column(0).cast(pa.int64()).to_pylist():
            latencies.add(publish_time, now)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="pulsar://127.0.0.1:6650")
    commands = parser.add_subparsers(dest="command", required=True)
    r = commands.add_parser("official-read")
    r.add_argument("topic")
    r.add_argument("--count", type=int, required=True)
    r.add_argument("--bytes", action="store_true", help="BYTES payloads, not AVRO order records")
    s = commands.add_parser("seam-read")
    s.add_argument("address")
    s.add_argument("topic")
    k = commands.add_parser("spark-read")
    k.add_argument("address")
    k.add_argument("topic")
    k.add_argument("--warmup", help="a topic read first, in the same session, untimed")
    f = commands.add_parser("flight-read")
    f.add_argument("address")
    f.add_argument("topic")
    f.add_argument("--parallel", type=int, default=1, help="endpoints fetched at once")
    for name, with_address in (("official-tail", False), ("seam-tail", True)):
        t = commands.add_parser(name)
        if with_address:
            t.add_argument("address")
        t.add_argument("topic")
        t.add_argument("--warmup-ms", type=int, default=2000, help="leave out the first messages' latencies")
    args = parser.parse_args()

    if args.command == "seam-read":
        return seam_read(args)
    if args.command == "seam-tail":
        return seam_tail(args)
    if args.command == "flight-read":
        return flight_read(args)
    if args.command == "spark-read":
        return spark_read(args)
    client = pulsar.Client(args.url, logger=pulsar.FileLogger(pulsar.LoggerLevel.Warn, "/dev/stderr"))
    try:
        {"official-read": official_read, "official-tail": official_tail}[args.command](client, args)
    finally:
        client.close()


if __name__ == "__main__":
    main()
