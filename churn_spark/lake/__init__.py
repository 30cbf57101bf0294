"""The tables: Delta storage, ingest of your own data, SQL access.

* :mod:`churn_spark.lake.tables` — ``Lake``: read, write (atomic overwrite/append), versions, history;
* :mod:`churn_spark.lake.ingest` — your files -> validated ``emails``/``observations`` + ``quarantine``;
* :mod:`churn_spark.lake.sql` — the tables as a SQL database (shell, Thrift JDBC server).
"""
