"""The pipeline's stages, one module each: ``generate``, ``features``, ``ingest``, ``text``, ``lsi``,
``selection``, ``kselect``, ``models``, ``evaluate``, ``score``.

Every stage module ends with its declaration, ``STAGE = Stage(...)``: the tables it reads and
writes, the saved artefacts it loads, and the configuration sections its result depends on,
beside the code that does it. :func:`churn_spark.app.pipeline.run_stage` records what a stage
really read and wrote through the lake and refuses a stage that touched a table it did not
declare, so the declarations cannot drift from the code. A stage's ``run(ctx)`` reads its
inputs through ``ctx.lake``, calls the library and writes its outputs; it returns a small
summary (a JSON-able dict) that ``pipeline_runs`` keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from churn_spark.app.context import Context


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline and what it touches.

    ``inputs``: the tables it may read (every configuration's reads: e.g. ``kselect`` reads
    ``unit_concepts`` only with ``lsi.classifier: lbfgs``). ``artefacts``: tables written together
    with the saved models this stage loads (their versions tell when those models changed).
    ``outputs``: the tables it writes, every one on every run. ``config``: the configuration
    sections whose values change its result (their hash is part of its freshness).
    """

    name: str
    run: Callable[[Context], dict[str, Any]]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    config: tuple[str, ...]
    help: str
    artefacts: tuple[str, ...] = ()
