"""Each stage keeps to its declaration: run_stage refuses one that reads or writes a table it does not name."""

from __future__ import annotations

import pytest

from churn_spark.app.context import Context
from churn_spark.app.pipeline import ALL_STAGES, RUNS_TABLE, UndeclaredTableError, run_stage, undeclared_tables
from churn_spark.app.stages import Stage
from churn_spark.config import load_config
from churn_spark.lake.tables import Lake


@pytest.fixture
def ctx(spark, tmp_path):
    cfg = load_config(["local"], [f"run.warehouse={tmp_path / 'wh'}"])
    lake = Lake(spark, cfg)
    lake.write(spark.range(3).toDF("unit"), "declared_in")
    lake.write(spark.range(3).toDF("unit"), "not_declared")
    return Context(cfg, spark=spark, lake=lake)


def _copy(source: str, target: str):
    def run(ctx: Context) -> dict:
        ctx.lake.write(ctx.lake.read(source), target)
        return {}
    return run


def test_a_stage_that_keeps_to_its_declaration_is_recorded(ctx):
    stage = Stage("honest", _copy("declared_in", "declared_out"), inputs=("declared_in",),
                  outputs=("declared_out",), config=(), help="")
    run_stage(ctx, stage)
    assert [r.stage for r in ctx.lake.read(RUNS_TABLE).collect()] == ["honest"]


@pytest.mark.parametrize("source, target, problem", [("not_declared", "declared_out", "read not_declared"),
                                                     ("declared_in", "not_an_output", "wrote not_an_output")])
def test_a_stage_that_touches_an_undeclared_table_fails_and_is_not_recorded(ctx, source, target, problem):
    stage = Stage("sloppy", _copy(source, target), inputs=("declared_in",), outputs=("declared_out",),
                  config=(), help="")
    with pytest.raises(UndeclaredTableError, match=problem):
        run_stage(ctx, stage)
    assert not ctx.lake.exists(RUNS_TABLE)  # not recorded: the next run runs it again


def test_reading_back_an_output_is_allowed():
    stage = Stage("s", _copy("a", "b"), inputs=("a",), outputs=("b",), config=(), help="")
    assert undeclared_tables(stage, read=["a", "b"], written=["b"]) == []
    assert undeclared_tables(stage, read=["c"], written=["b", "d"]) == ["read c", "wrote d"]


def test_every_pipeline_stage_declares_lower_snake_case_tables_and_a_help_line():
    for name, stage in ALL_STAGES.items():
        assert stage.name == name and stage.help and stage.outputs, name
        for table in (*stage.inputs, *stage.outputs, *stage.artefacts):
            assert table == table.lower() and " " not in table, (name, table)
