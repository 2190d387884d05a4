"""A topic through Seam's Arrow Flight service into DuckDB, with pyarrow.flight only (no Seam
import): plan with get_flight_info, read every endpoint at once with do_get, query the table.

    python clients/python/examples/flight_duckdb.py orders 127.0.0.1:50051
"""

import sys
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pyarrow as pa
from pyarrow import flight

topic = sys.argv[1] if len(sys.argv) > 1 else "orders"
address = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1:50051"

gateway = flight.FlightClient(f"grpc://{address}")
info = gateway.get_flight_info(flight.FlightDescriptor.for_path(topic))
print(f"{len(info.endpoints)} endpoints, {info.total_bytes} bytes stored")


def read(endpoint):
    # A fleet (--flight-locations) names its gateways, the preferred first; none: this one.
    client = flight.FlightClient(endpoint.locations[0]) if endpoint.locations else gateway
    return client.do_get(endpoint.ticket).read_all()


with ThreadPoolExecutor(max_workers=4) as pool:
    orders = pa.concat_tables(pool.map(read, info.endpoints))

# DuckDB scans the Arrow table in place, found by its variable name.
print(duckdb.sql("""
    SELECT __key AS customer, count(*) AS orders, min(__publishTime) AS first, max(__publishTime) AS last
    FROM orders GROUP BY __key ORDER BY orders DESC, customer LIMIT 5
"""))
