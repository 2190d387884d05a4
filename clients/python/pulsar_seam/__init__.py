"""Read Apache Pulsar topics as Arrow tables through a Seam gateway.

    import pulsar_seam

    table = pulsar_seam.read("127.0.0.1:50051", "orders").read_all()   # what the topic holds now
    df = table.to_pandas()

    for batch, info in pulsar_seam.stream("127.0.0.1:50051", "orders", end="follow"):
        ...  # history batches, then live ones (info.phase == "tail")

A gateway serving TLS, with a Pulsar token for the caller:

    creds = pulsar_seam.credentials(ca="ca.pem", token=open("reader.token").read().strip())
    table = pulsar_seam.read("seam.example:50051", "orders", credentials=creds).read_all()

A bounded read in parallel over the gateway's Arrow Flight endpoints (one per ledger of each
partition), with pyarrow.flight underneath:

    table = pulsar_seam.read_parallel("127.0.0.1:50051", "orders", max_workers=4)

The stream resumes by itself with the last resume token when the gateway goes away, so
the batches have no gap and no duplicate.
"""

from .client import BatchInfo, SeamError, credentials, read, stream
from .flight import read_parallel

__all__ = ["BatchInfo", "SeamError", "credentials", "read", "read_parallel", "stream"]
