"""Every table a stage writes is documented for the catalog (lake/comments.py)."""

from __future__ import annotations

from churn_spark.app.pipeline import ALL_STAGES, RUNS_TABLE
from churn_spark.lake.comments import TABLE_COMMENTS


def test_every_table_a_stage_writes_has_a_table_comment_and_column_comments():
    written = {table for stage in ALL_STAGES.values() for table in stage.outputs} | {RUNS_TABLE}
    missing = sorted(written - set(TABLE_COMMENTS))
    assert not missing, f"tables without a comment in churn_spark/lake/comments.py: {missing}"
    for table in written:
        doc = TABLE_COMMENTS[table]
        assert doc.comment.strip() and doc.columns, table
        assert all(text.strip() for text in doc.columns.values()), table

