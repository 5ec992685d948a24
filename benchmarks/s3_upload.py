"""Shard upload MB/s to a loopback SeaweedFS S3 server (the test suite's server, started here and stopped after).

Three figures on the same bytes in the same run:
- `anchor_boto3`: plain boto3 `upload_fileobj` with its default transfer settings (what a user script would do);
- `store_put`: `S3Store.put`, the call that stages a shard (one PutObject below the multipart threshold, parallel
  parts above it);
- `journal_commit`: a whole exactly-once commit of one shard (`Journal.commit`: staged put, conditional commit
  record, server-side copy to `data/`, staging delete), as MB of shard per second.
Shards are real parquet bytes (zstd) of incompressible text, so size on the wire is the size in the table.
Target: >= 100 MB/s. Prints JSON.

    .venv/bin/python benchmarks/s3_upload.py [--mb 8 64 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fixtures.s3_server import SeaweedS3  # noqa: E402  (the tests' real-server fixture, reused as is)

from foundry.storage.manifest import Journal  # noqa: E402
from foundry.storage.s3 import S3Store  # noqa: E402


def shard(megabytes: int) -> bytes:
    """A parquet shard of about `megabytes` MB: random hex text does not compress, like a real upload's bytes."""
    rows = megabytes * 128
    text = [os.urandom(8192).hex() for _ in range(rows)]  # 16 KB of text per row, ~8 KB once compressed
    sink = io.BytesIO()
    pq.write_table(pa.table({"completion": text}), sink, compression="zstd")
    return sink.getvalue()


def best_mb_per_s(action, size: int, repeats: int) -> float:
    best = float("inf")
    for i in range(repeats):
        started = time.perf_counter()
        action(i)
        best = min(best, time.perf_counter() - started)
    return round(size / 2**20 / best, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, nargs="+", default=[8, 64, 256])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="foundry-s3-bench-") as root:
        server = SeaweedS3(Path(root))
        server.start()
        try:
            os.environ.update(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key,
                              AWS_DEFAULT_REGION="us-east-1")
            bucket = server.make_bucket()
            client = server.client()
            client.put_object(Bucket=bucket, Key="warm-up", Body=b"1")  # connections and credentials, not timed
            results = []
            for megabytes in args.mb:
                data = shard(megabytes)
                store = S3Store(f"s3://{bucket}/store-{megabytes}", endpoint_url=server.endpoint_url)
                journal = Journal(S3Store(f"s3://{bucket}/journal-{megabytes}", endpoint_url=server.endpoint_url))
                journal.recover()
                results.append({
                    "shard_mb": round(len(data) / 2**20, 1),
                    "anchor_boto3": best_mb_per_s(lambda i: client.upload_fileobj(
                        io.BytesIO(data), bucket, f"anchor-{megabytes}/{i}.parquet"), len(data), args.repeats),
                    "store_put": best_mb_per_s(lambda i: store.put(f"{i}.parquet", data), len(data), args.repeats),
                    "journal_commit": best_mb_per_s(lambda i: journal.commit(
                        {"accepted": data}, [f"task-{i}"], [f"id-{i}"], {"accepted": 1}), len(data), args.repeats),
                })
                print(json.dumps(results[-1]), file=sys.stderr)
        finally:
            server.cleanup()
    print(json.dumps({
        "benchmark": "s3_upload",
        "server": "SeaweedFS weed mini on 127.0.0.1",
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "python": platform.python_version(),
        "repeats": args.repeats,
        "target_mb_per_s": 100,
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
