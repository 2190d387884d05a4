"""The `seam` format for Spark 4, found by Spark itself: at the first Python data source
call, Spark imports every top-level module named `pyspark_*` on its Python workers' path and
registers its `DefaultSource` under the source's name. So with `pulsar-seam[spark]` installed
where Spark's Python runs, `spark.read.format("seam")` works without
`pulsar_seam.spark.register(spark)`.

Batch reads push `__publishTime` filters down, which Spark refuses unless the session sets
`spark.sql.python.filterPushdown.enabled=true` (register() sets it; here the user does, e.g.
`--conf spark.sql.python.filterPushdown.enabled=true`)."""

from pulsar_seam.spark import SeamDataSource as DefaultSource

__all__ = ["DefaultSource"]
