"""Speed and Table-2 lengths of the synthetic email writer (churn_spark.synth.text).

    .venv/bin/python -m bench.synth_text [--emails 50000] [--sample 2000] [--seed 0]

Prints emails/s of ``render_emails`` on one core (table building excluded, reported apart),
the Traditional share, and the paper's Table 2 statistics measured with jieba (plus the
project's user dictionary) on a sample.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jieba
import numpy as np

from churn_spark.synth import text

USER_DICT = Path(__file__).resolve().parents[1] / "conf" / "dict" / "user_dict.txt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.synth_text", description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=50_000)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alpha", type=float, default=0.3, help="Dirichlet concentration of the mixes")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    text.render_emails(np.full((1, len(text.TOPICS)), 1 / len(text.TOPICS)), np.random.default_rng(0))
    print(f"tables built in {time.perf_counter() - started:.2f} s (once per process)")

    rng = np.random.default_rng(args.seed)
    mix = rng.dirichlet(np.full(len(text.TOPICS), args.alpha), size=args.emails)
    started, cpu = time.perf_counter(), time.process_time()
    emails = text.render_emails(mix, rng)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    chars = sum(len(body) for _, body in emails) / len(emails)
    print(f"render_emails: {len(emails)} emails in {elapsed:.2f} s = {len(emails) / elapsed:,.0f} emails/s "
          f"wall, {len(emails) / cpu:,.0f} emails/s of CPU ({chars:.0f} characters per body)")

    tokenizer = jieba.Tokenizer()
    tokenizer.load_userdict(str(USER_DICT))
    sample = [body for _, body in emails[: args.sample]]
    started = time.perf_counter()
    stats = text.table2_stats(sample, tokenizer.lcut)
    print(f"table2_stats on {len(sample)} emails ({time.perf_counter() - started:.1f} s):")
    paper = {"words_per_email": 113.27, "words_per_sentence": 28.98, "distinct_words_per_email": 72.54}
    for key, value in stats.items():
        target = f"  (paper train: {paper[key]})" if key in paper else ""
        print(f"  {key:30s} {value:8.2f}{target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
