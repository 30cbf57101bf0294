"""The paper's final manual check of the term dictionary: ``churn-spark review-terms``.

:func:`review_terms` lists the most frequent terms of the ``vocabulary`` table (by
collection frequency, then document frequency) with their idf and, for excluded terms, the
reason. A reviewer adds irrelevant terms to ``conf/dict/exclusions.txt`` (or stopwords.txt)
and re-runs the text stage; the terms then show up with reason ``manual``/``stopword``.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def review_terms(vocabulary_df: DataFrame, top_n: int = 100) -> str:
    """A Markdown report: summary counts and the ``top_n`` terms by cf, df (kept and excluded)."""
    summary = (vocabulary_df.groupBy(F.coalesce(F.col("reason"), F.lit("kept")).alias("status"))
               .agg(F.count(F.lit(1)).alias("terms"), F.sum("cf").alias("occurrences"))
               .orderBy(F.desc("terms")).collect())
    top = (vocabulary_df.orderBy(F.desc("cf"), F.desc("df"), F.asc("term"))
           .select("term_id", "term", "df", "cf", "idf", "reason").limit(top_n).collect())
    lines = ["# Vocabulary review", "",
             "| status | terms | occurrences |", "|---|---:|---:|"]
    lines += [f"| {r['status']} | {r['terms']} | {r['occurrences']} |" for r in summary]
    lines += ["", f"## Top {len(top)} terms by collection frequency", "",
              "| rank | term | term_id | df | cf | idf | excluded because |",
              "|---:|---|---:|---:|---:|---:|---|"]
    for rank, r in enumerate(top, 1):
        term_id = "" if r["term_id"] is None else r["term_id"]
        lines.append(f"| {rank} | {r['term']} | {term_id} | {r['df']} | {r['cf']} | {r['idf']:.3f} | "
                     f"{r['reason'] or ''} |")
    lines += ["", "Add irrelevant terms to conf/dict/exclusions.txt (one per line) and re-run the text "
              "stage."]
    return "\n".join(lines)


