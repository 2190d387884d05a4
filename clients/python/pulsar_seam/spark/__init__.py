"""Spark reads Pulsar through Seam: a PySpark data source, format "seam", over the Arrow
Flight service every Seam gateway serves. Nothing runs on the cluster but this package.

    from pulsar_seam.spark import register
    register(spark)

    df = (spark.read.format("seam")
          .option("gateway", "grpc://127.0.0.1:50051").option("topic", "orders").load())

    stream = (spark.readStream.format("seam")
              .option("gateway", "grpc://127.0.0.1:50051").option("topic", "orders")
              .option("maxEntriesPerTrigger", 10000).load())

Without register(): Spark finds the format by itself in the top-level module pyspark_seam,
which the package installs, where Spark's Python runs; batch reads then need the session
setting spark.sql.python.filterPushdown.enabled=true (docs/spark.md, "Without register()").

Batch: one Spark partition per Flight endpoint (a ledger's range of one Pulsar partition);
`__publishTime` filters skip the segments outside their window. Streaming: offsets are
per-partition positions, a micro-batch is the endpoints between two offsets, exactly once
across restarts from a checkpoint. The options are in SeamDataSource's docstring, the type
mapping in pulsar_seam.spark._types.
"""

from __future__ import annotations

from pyspark.sql.datasource import DataSource, DataSourceReader, DataSourceStreamReader
from pyspark.sql.types import StructType

from ._flight import Gateway
from ._options import SourceOptions
from ._readers import SeamBatchReader, SeamPartition, SeamStreamReader
from ._types import spark_schema

__all__ = ["SeamDataSource", "SeamPartition", "register"]


class SeamDataSource(DataSource):
    """The `seam` format. Options (names are case-insensitive):

    gateway        grpc://host:port or grpc+tls://host:port (required)
    topic          the topic, short or persistent://tenant/namespace/name (required)
    start          earliest (default) | latest | a publish time (RFC 3339, or ms since the
                   epoch) | id:<base64 serialized MessageId> (inclusive; one partition)
    end            batch only: latest (default: what the topic holds when the read is
                   planned) | a publish time (exclusive) | id:<base64> (inclusive)
    columns        comma-separated columns to read (default: all)
    tlsCa, tlsCert, tlsKey   PEM text or a file path (readable on the executors too)
    tlsServerName  the name to check the gateway's certificate against
    token, tokenFile         a Pulsar token, or a file holding one (read at every call)
    maxEntriesPerTrigger     streaming: about this many Pulsar entries per micro-batch
    failOnDataLoss true (default): a query whose unread messages retention deleted fails;
                   false: it warns and goes on from the earliest message left
    """

    @classmethod
    def name(cls) -> str:
        return "seam"

    def _options(self) -> SourceOptions:
        return SourceOptions.parse(self.options)

    def schema(self) -> StructType:
        options = self._options()
        command = {"topic": options.topic}
        if options.columns:
            command["columns"] = list(options.columns)
        with Gateway(options) as gateway:
            return spark_schema(gateway.schema(command))

    def reader(self, schema: StructType) -> DataSourceReader:
        return SeamBatchReader(self._options(), schema)

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        options = self._options()
        if options.end_given:
            raise ValueError("option end is for batch reads: a stream follows the topic")
        return SeamStreamReader(options, schema)


def register(spark) -> None:
    """Registers the `seam` format with a SparkSession, and turns on Python data source
    filter pushdown (`spark.sql.python.filterPushdown.enabled`): Spark 4.3 refuses to run a
    data source that can push filters while it is off, and it is off by default."""
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")
    spark.dataSource.register(SeamDataSource)
