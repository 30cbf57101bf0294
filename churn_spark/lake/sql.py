"""SQL over the result tables: ``churn-spark sql``, an interactive shell, and the Thrift server.

Every table of the warehouse is a catalog table ``<database>.<table>`` (``churn.model_metrics``):
an external Delta table at its folder, registered by the job that wrote it, with the comments
of :mod:`churn_spark.lake.comments`. A query reads the table's current version; Delta's SQL
works on it (``DESCRIBE HISTORY churn.emails``, ``SELECT ... VERSION AS OF 3``, ``MERGE INTO``).
"""

from __future__ import annotations

import os
import time

from pyspark.sql import DataFrame

from churn_spark import classic
from churn_spark.lake.tables import Lake


def register_tables(lake: Lake) -> list[str]:
    """Make every table of ``lake`` queryable as ``<database>.<table>`` (new ones included); return the names."""
    return lake.register_all()


def format_rows(df: DataFrame, limit: int = 100) -> str:
    """A plain-text table of the first ``limit`` rows (the way psql prints a result)."""
    rows = df.limit(limit + 1).collect()
    header = df.columns
    shown = [[_cell(v) for v in row] for row in rows[:limit]]
    widths = [max([len(h)] + [len(r[i]) for r in shown]) for i, h in enumerate(header)]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "-+-".join("-" * w for w in widths)]
    out += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in shown]
    more = " (more rows not shown)" if len(rows) > limit else ""
    out.append(f"({len(shown)} row{'s' if len(shown) != 1 else ''}{more})")
    return "\n".join(out)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return "[" + ", ".join(_cell(v) for v in value[:8]) + ", ...]"
    return "NULL" if value is None else str(value)


def start_thrift_server(lake: Lake, host: str, port: int) -> list[str]:
    """Register the tables of ``lake`` and serve them with Spark's Thrift JDBC/ODBC server on
    ``host:port`` over the lake's session; return the table names.

    The server starts before anything reads the catalog: it takes its address from the Hive
    state made when the catalog is first used (made earlier, it binds *:10000). Tables that the
    jobs registered are there at once; those registered here (a warehouse copied or moved, or
    written while the metastore was busy) a few seconds later.
    """
    classic.start_thrift_server(lake.spark, host, port)  # in this driver: classic sessions only
    return register_tables(lake)


def beeline_path() -> str:
    """The beeline launcher that ships with the pyspark package."""
    import pyspark
    return os.path.join(os.path.dirname(pyspark.__file__), "bin", "beeline")


def wait_for_port(host: str, port: int, timeout: float = 120.0) -> bool:
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as sock:
            sock.settimeout(1.0)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.5)
    return False
