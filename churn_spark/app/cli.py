"""The ``churn-spark`` command line: one sub-command per stage, plus the whole pipeline.

Every sub-command takes the same options::

    churn-spark <command> [-c OVERLAY ...] [--conf section.key=value ...] [--warehouse DIR] [--remote sc://HOST:PORT]

Overlays are YAML files (or names of files in ``conf/``: ``local``, ``cluster``, ...) merged
over ``conf/pipeline.yaml``. ``--remote`` runs the command on a Spark Connect server instead
of an embedded session (``churn-spark connect-server`` starts one for the same warehouse). On
failure the command prints one line saying why and exits non-zero (1 for a failed job, 2 for
invalid configuration or usage); ``--verbose`` adds the traceback. The thin spark-submit entry
points in ``jobs/`` call :func:`main` with their stage.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from churn_spark.app import commands
from churn_spark.app.context import Context
from churn_spark.app.pipeline import ALL_STAGES
from churn_spark.config import ConfigError, load_config


@dataclass(frozen=True)
class Command:
    """A sub-command: ``run`` does it, given the :class:`Context`; ``add_arguments`` adds its own options."""

    name: str
    run: Callable[[Context], Any]
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None


def _generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", help="tiny | paper | scale (= generate.preset)")
    p.add_argument("--emails", type=int, help="scale preset size (= generate.emails)")
    p.add_argument("--seed", type=int, help="generator seed (= generate.seed)")


def _ingest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--emails", required=True, help="emails: Parquet, CSV, JSON Lines or Delta path")
    p.add_argument("--observations", required=True, help="observations: same formats as --emails")
    p.add_argument("--format", default="auto", choices=["auto", "parquet", "csv", "json", "delta"],
                   help="input format (default: detected from the path)")


def _sql_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", nargs="*", help="SQL statement(s); none opens an interactive shell")
    p.add_argument("--limit", type=int, default=100, help="rows to print per result (default 100)")


def _thrift_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=10000, help="JDBC port (default 10000)")
    p.add_argument("--refresh-seconds", type=float, default=60.0,
                   help="register tables that appeared in the warehouse this often (default 60)")


def _connect_server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; a loopback address "
                   "unless --allow-non-loopback)")
    p.add_argument("--port", type=int, default=15002, help="gRPC port (default 15002)")
    p.add_argument("--allow-non-loopback", action="store_true",
                   help="allow a non-loopback --host: the server has no authentication and runs any code a "
                        "client sends, so only on a trusted network")
    p.add_argument("--log", help="the server's log file (default: a new file in the temporary folder)")


def _remote_url(value: str) -> str:
    if not value.startswith("sc://") or len(value) <= len("sc://"):
        raise argparse.ArgumentTypeError(f"expected a Spark Connect URL sc://HOST:PORT, got {value!r}")
    return value


def _review_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--top", type=int, help="number of terms to list (default text.review_top_n)")


def _pipeline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="start", metavar="STAGE", help="first stage to run")
    p.add_argument("--to", dest="stop", metavar="STAGE", help="last stage to run")
    p.add_argument("--only", action="append", default=[], metavar="STAGE", help="run only this stage (repeatable)")
    p.add_argument("--force", action="store_true", help="re-run stages that are up to date")


def _generated_pipeline_args(p: argparse.ArgumentParser) -> None:
    _generate_args(p)
    _pipeline_args(p)


def _own_data_args(p: argparse.ArgumentParser) -> None:
    _ingest_args(p)
    p.add_argument("--out", required=True, help="folder for every table and report/ (= run.warehouse)")
    _pipeline_args(p)


def _stage_commands() -> list[Command]:
    """One command per pipeline stage: runs it alone and records it in pipeline_runs."""
    extra_args = {"generate": _generate_args, "ingest": _ingest_args}
    return [Command(stage.name, commands.run_stage_command, stage.help, extra_args.get(stage.name))
            for stage in ALL_STAGES.values()]


COMMANDS: list[Command] = [
    Command("demo", commands.run_demo_command,
            "generate the paper-sized world, run every stage and print the result",
            _generated_pipeline_args),
    Command("pipeline", commands.run_generated_command,
            "run the stages on generated data (resumes: stages that are up to date are skipped)",
            _generated_pipeline_args),
    Command("run", commands.run_own_data_command,
            "run the whole pipeline on your own emails and observations (docs/data_contract.md)", _own_data_args),
    *_stage_commands(),
    Command("review-terms", commands.run_review_terms_command,
            "print the top terms of the vocabulary for the manual check", _review_args),
    Command("experiment", commands.run_experiment_command,
            "run an experiment on the tables of a finished pipeline: add-non-emailers (paper Fig. 7)",
            lambda p: p.add_argument("name", choices=["add-non-emailers"], help="the experiment to run")),
    Command("smoke", commands.run_smoke,
            "write, read, overwrite and time-travel a table (checks Spark + Delta)"),
    Command("sql", commands.run_sql_command,
            "run SQL on the tables (database churn); without a query, an interactive shell", _sql_args),
    Command("thrift", commands.run_thrift_command,
            "serve the tables over JDBC/ODBC with Spark's Thrift server (a classic session only)", _thrift_args),
    Command("connect-server", commands.run_connect_server_command,
            "run a Spark Connect server for the warehouse, for commands given --remote sc://HOST:PORT",
            _connect_server_args),
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="churn-spark", description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", action="append", default=[], metavar="OVERLAY",
                        help="configuration overlay: a YAML path or a name in conf/ (repeatable)")
    common.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="override one configuration key, e.g. text.min_term_count=5 (repeatable)")
    common.add_argument("--warehouse", help="warehouse root for all tables (= run.warehouse)")
    common.add_argument("--remote", type=_remote_url, metavar="sc://HOST:PORT",
                        help="run on this Spark Connect server (= spark.remote; churn-spark connect-server)")
    common.add_argument("--verbose", action="store_true", help="print tracebacks on failure")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.name, parents=[common], help=command.help, description=command.help)
        if command.add_arguments:
            command.add_arguments(p)
    return parser


def _overrides(args: argparse.Namespace) -> list[str]:
    """Command-line shortcuts expressed as configuration overrides (applied before --conf)."""
    extra = []
    if getattr(args, "warehouse", None):
        extra.append(f"run.warehouse={args.warehouse}")
    if getattr(args, "remote", None):
        extra.append(f"spark.remote={args.remote}")
    if args.command == "run":
        extra.append(f"run.warehouse={args.out}")
    if args.command == "demo" and args.preset is None:
        extra.append("generate.preset=paper")  # the demo is the paper-sized world unless told otherwise
    if args.command in ("generate", "pipeline", "demo"):
        for flag in ("preset", "emails", "seed"):
            value = getattr(args, flag, None)
            if value is not None:
                extra.append(f"generate.{flag}={value}")
    return extra + list(args.conf)


def _failure_reason(err: Exception) -> str:
    """One line saying why: the message's first line, and for a JVM error (``Py4JJavaError``, whose
    first line only names the py4j call) the Java exception's own first line; for a failed call to
    a Spark Connect server (whose first line only names the gRPC call) its status and details."""
    status = re.search(r"status = StatusCode\.(\w+)", str(err))
    if status:
        details = re.search(r'details = "([^"]*)"', str(err))
        reason = f"Spark Connect call failed ({status.group(1)}): {details.group(1) if details else ''}".rstrip(": ")
        if status.group(1) == "UNAVAILABLE":
            reason += ("; the server is gone or unreachable: start it again and re-run the command "
                       "(the stages already done are skipped)")
        return reason[:800]
    lines = str(err).strip().splitlines()
    reason = lines[0] if lines else type(err).__name__
    java = getattr(err, "java_exception", None)
    if java is not None:
        try:
            java_lines = str(java.toString()).strip().splitlines()
        except Exception:  # the JVM may be gone (killed executor, OOM): keep the py4j message
            java_lines = lines[1:2]
        if java_lines:
            reason = f"{reason} {java_lines[0].lstrip(': ')[:500]}"
    return reason


def _release_connect_session(cfg: Any) -> None:
    """End this client's session on a Spark Connect server (its cached data, temporary views and
    settings), which would otherwise stay until the server's session timeout."""
    from churn_spark.session import remote_url

    if not remote_url(cfg):
        return
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        try:
            active.stop()
        except Exception:  # the server may be gone; the command's result stands
            pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``churn-spark`` and of every job in ``jobs/``; returns the exit code."""
    args = _parser().parse_args(argv)
    command = next(c for c in COMMANDS if c.name == args.command)
    started = time.time()
    try:
        cfg = load_config(args.config, _overrides(args))
    except ConfigError as err:
        print(f"churn-spark {args.command}: invalid configuration: {err}", file=sys.stderr)
        return 2
    try:
        command.run(Context(cfg, args))
        _release_connect_session(cfg)
    except KeyboardInterrupt:
        print(f"churn-spark {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # one line for the scheduler's log; details with --verbose
        if args.verbose or os.environ.get("CHURN_SPARK_VERBOSE"):
            traceback.print_exc()
        print(f"churn-spark {args.command}: failed: {type(err).__name__}: {_failure_reason(err)}", file=sys.stderr)
        return 1
    print(f"churn-spark {args.command}: done in {time.time() - started:.1f} s", file=sys.stderr)
    return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
