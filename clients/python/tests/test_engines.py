"""The engines docs/api.md names take a read as it is: a pyarrow RecordBatchReader."""

import collections

import duckdb
import polars as pl

import pulsar_seam

from conftest import fresh_topic, produce, read_official


def test_duckdb_queries_a_read_without_a_copy_to_pandas(gateway, pulsar_client):
    topic = fresh_topic("duckdb")
    produce(pulsar_client, topic, 700)
    reader = pulsar_seam.read(gateway.address, topic)  # noqa: F841 (DuckDB finds it by name)
    # DuckDB finds the Python variable by name and scans its batches as they come.
    rows = duckdb.sql(
        "SELECT __key, count(*) AS n, max(__publishTime) AS last FROM reader GROUP BY __key ORDER BY __key"
    ).fetchall()
    official = read_official(pulsar_client, topic)
    counts = collections.Counter(m.partition_key() for m in official)
    assert [(key, n) for key, n, _ in rows] == sorted(counts.items())
    last = max(m.publish_timestamp() for m in official)
    assert max(int(t.timestamp() * 1000) for _, _, t in rows) == last


def test_polars_takes_a_read(gateway, pulsar_client):
    topic = fresh_topic("polars")
    produce(pulsar_client, topic, 300)
    frame = pl.from_arrow(pulsar_seam.read(gateway.address, topic, columns=["value", "__key", "__messageId"]))
    official = read_official(pulsar_client, topic)
    assert frame.columns == ["value", "__key", "__messageId"]
    assert frame["__messageId"].to_list() == [m.message_id().serialize() for m in official]
    assert frame.filter(pl.col("__key") == "k3").height == sum(m.partition_key() == "k3" for m in official)
