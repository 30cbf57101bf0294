"""spark-submit entry point: the text stage (emails -> email_terms, vocabulary, doc_vectors).

    spark-submit jobs/text.py [-c OVERLAY ...] [--conf text.segmenter=rjieba ...] [--warehouse DIR]
    spark-submit jobs/text.py review-terms [--top 100] [...]

All logic is in :mod:`churn_spark.text.stage` (``run_text_stage``) and
:mod:`churn_spark.text.review`; this file only parses the options.
"""

import argparse
import json
import sys

from churn_spark.config import ConfigError, load_config


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="text", description=__doc__.splitlines()[0])
    parser.add_argument("action", nargs="?", default="run", choices=["run", "review-terms"])
    parser.add_argument("-c", "--config", action="append", default=[], metavar="OVERLAY")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--warehouse")
    parser.add_argument("--top", type=int, help="review-terms: number of terms (= text.review_top_n)")
    args = parser.parse_args(argv)
    overrides = ([f"run.warehouse={args.warehouse}"] if args.warehouse else []) + args.conf
    try:
        cfg = load_config(args.config, overrides)
    except ConfigError as err:
        print(f"text: invalid configuration: {err}", file=sys.stderr)
        return 2

    from churn_spark.lake import Lake
    from churn_spark.session import get_spark

    spark = get_spark(cfg, app_name="churn-spark-text")
    lake = Lake(spark, cfg)
    if args.action == "review-terms":
        from churn_spark.text.review import review_terms

        print(review_terms(lake.read("vocabulary"), args.top or cfg.text.review_top_n))
    else:
        from churn_spark.text.stage import run_text_stage

        print(json.dumps(run_text_stage(spark, lake, cfg), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
