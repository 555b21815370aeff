"""An Arrow table pipeline: parquet -> filter -> join -> aggregate -> embedding tensor.

Input files are keyed by their *contents* (``keys.file_digest``), so editing
the parquet file re-runs everything downstream, and touching it does not.

    digestflow run examples/tables.py
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from keys import Key, file_digest
from runner import task

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")


def write_inputs(rows: int = 200_000, seed: int = 0) -> tuple[str, str]:
    """Create the example's parquet files once (not a task: they are the inputs)."""
    os.makedirs(DATA, exist_ok=True)
    orders_path = os.path.join(DATA, f"orders-{rows}-{seed}.parquet")
    customers_path = os.path.join(DATA, "customers.parquet")
    if not os.path.exists(orders_path):
        rng = np.random.default_rng(seed)
        orders = pa.table({
            "order_id": np.arange(rows, dtype=np.int64),
            "customer_id": rng.integers(0, 1000, rows),
            "amount": rng.gamma(2.0, 30.0, rows).round(2),
        })
        pq.write_table(orders, orders_path)
    if not os.path.exists(customers_path):
        regions = np.array(["north", "south", "east", "west"])
        customers = pa.table({
            "customer_id": np.arange(1000, dtype=np.int64),
            "region": regions[np.arange(1000) % 4],
        })
        pq.write_table(customers, customers_path)
    return orders_path, customers_path


@task
def read_parquet(path: str, content: Key) -> pa.Table:
    """``content`` is the file's digest: it keys the node on what the file holds."""
    return pq.read_table(path)


@task
def filter_orders(orders: pa.Table, min_amount: float = 20.0) -> pa.Table:
    return orders.filter(pc.greater_equal(orders["amount"], min_amount))


@task
def join(orders: pa.Table, customers: pa.Table) -> pa.Table:
    return orders.join(customers, "customer_id")


@task
def aggregate(joined: pa.Table) -> pa.Table:
    grouped = joined.group_by("region").aggregate([("amount", "sum"), ("amount", "count"),
                                                   ("amount", "mean")])
    return grouped.sort_by("region")


@task(num_gpus=1)
def embed(summary: pa.Table, dim: int = 8, seed: int = 0) -> np.ndarray:
    """A random projection of each region's features: a stand-in for a model."""
    features = np.stack([summary[c].to_numpy().astype(np.float32)
                         for c in ("amount_sum", "amount_count", "amount_mean")], axis=1)
    features /= np.maximum(np.abs(features).max(axis=0), 1e-9)
    projection = np.random.default_rng(seed).standard_normal((features.shape[1], dim))
    return (features @ projection.astype(np.float32)).astype(np.float32)


def build(min_amount: float = 20.0, rows: int = 200_000):
    orders_path, customers_path = write_inputs(rows)
    orders = read_parquet.bind(orders_path, file_digest(orders_path))
    customers = read_parquet.bind(customers_path, file_digest(customers_path))
    summary = aggregate.bind(join.bind(filter_orders.bind(orders, min_amount), customers))
    return {"summary": summary, "embedding": embed.bind(summary)}


TARGETS = build()
