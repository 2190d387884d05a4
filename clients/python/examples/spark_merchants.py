"""The seed's query in Spark, through Seam: each merchant's transaction volume over the past
30 days, the current transaction included, as ONE streaming query over the topic the demo
writes (scripts/demo.sh: AVRO records {merchant, amount_cents, card}, event time = when the
transaction happened). The first micro-batch reads the month of history from the gateway's
segments; the next ones read the live transactions as they arrive.

    python clients/python/examples/spark_merchants.py grpc://127.0.0.1:50051 \\
        persistent://public/default/seam-demo-transactions-... [--seconds 30]

Needs `pip install 'pulsar-seam[spark]'` and a Java Spark runs on (17 or 21).
"""

import argparse
import os
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pulsar_seam.spark import register

DAY_MS = 86_400_000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gateway")
    parser.add_argument("topic")
    parser.add_argument("--seconds", type=float, default=30, help="how long to follow the topic")
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Spark's workers: this Python

    spark = (SparkSession.builder.master("local[2]").appName("seam-merchants")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
             .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    register(spark)

    window_start_ms = int(time.time() * 1000) - 30 * DAY_MS
    transactions = (spark.readStream.format("seam")
                    .option("gateway", args.gateway).option("topic", args.topic)
                    # Publish time >= now - 30 days: older segments are never read.
                    .option("start", str(window_start_ms))
                    .option("columns", "merchant,amount_cents,__eventTime")
                    .load())
    volume = (transactions
              .where(F.col("__eventTime") >= F.timestamp_millis(F.lit(window_start_ms)))
              .groupBy("merchant")
              .agg(F.sum("amount_cents").alias("cents"), F.count("*").alias("transactions")))

    started = time.monotonic()

    def report(df, batch_id):
        top = df.orderBy(F.desc("cents")).limit(5).collect()
        total = df.agg(F.sum("transactions")).first()[0] or 0
        print(f"batch {batch_id} at {time.monotonic() - started:5.1f} s: {total:,} transactions in the window; top merchants:")
        for i, row in enumerate(top, 1):
            print(f"   {i}. {row.merchant}  ${row.cents / 100:,.2f}  ({row.transactions:,} transactions)")

    query = (volume.writeStream.outputMode("complete").foreachBatch(report)
             .trigger(processingTime="2 seconds").start())
    query.awaitTermination(args.seconds)
    # Stop between micro-batches: stopping one mid-way interrupts its Python workers, and
    # Spark 4.3 then logs a StackOverflowError from its stream thread (seen here).
    while query.status["isTriggerActive"]:
        time.sleep(0.1)
    query.stop()
    spark.stop()


if __name__ == "__main__":
    main()
