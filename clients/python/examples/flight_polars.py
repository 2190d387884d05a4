"""A topic through Seam's Arrow Flight service into polars, with pyarrow.flight only (no Seam
import): plan with get_flight_info, read every endpoint at once with do_get, hand the table to
polars without a copy.

    python clients/python/examples/flight_polars.py orders 127.0.0.1:50051
"""

import sys
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pyarrow as pa
from pyarrow import flight

topic = sys.argv[1] if len(sys.argv) > 1 else "orders"
address = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1:50051"

gateway = flight.FlightClient(f"grpc://{address}")
info = gateway.get_flight_info(flight.FlightDescriptor.for_path(topic))


def read(endpoint):
    # A fleet (--flight-locations) names its gateways, the preferred first; none: this one.
    client = flight.FlightClient(endpoint.locations[0]) if endpoint.locations else gateway
    return client.do_get(endpoint.ticket).read_all()


with ThreadPoolExecutor(max_workers=4) as pool:
    tables = list(pool.map(read, info.endpoints))
for i, (endpoint, table) in enumerate(zip(info.endpoints, tables)):
    at = endpoint.locations[0].uri.decode() if endpoint.locations else address
    print(f"endpoint {i}: {table.num_rows} rows of {table.column('__topic')[0]}, read at {at}")

frame = pl.from_arrow(pa.concat_tables(tables))
print(
    frame.with_columns(pl.col("__topic").str.split("/").list.last().alias("partition"))
    .group_by("partition")
    .agg(pl.len().alias("rows"), pl.col("__key").n_unique().alias("keys"), pl.col("__publishTime").max().alias("last"))
    .sort("partition")
)
