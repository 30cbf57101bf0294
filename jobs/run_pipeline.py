"""spark-submit entry point: the whole pipeline, resuming at the first stage not up to date.

On your own data (docs/data_contract.md)::

    spark-submit jobs/run_pipeline.py --emails PATH --observations PATH --out DIR [--conf ...]

On the generated world::

    spark-submit jobs/run_pipeline.py --preset tiny|paper|scale [--emails N] --warehouse DIR

``--from/--to/--only STAGE`` run a slice, ``--force`` re-runs stages that are up to date.
"""

import sys

from churn_spark.app.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    own_data = any(a == "--observations" or a.startswith("--observations=") for a in argv)
    sys.exit(main(["run" if own_data else "pipeline", *argv]))
