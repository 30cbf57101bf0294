"""LogTfIdf: vocabulary rules and the Appendix A weights against a numpy computation."""

from __future__ import annotations

import numpy as np
import pytest

from churn_spark.text.weighting import VOCABULARY_SCHEMA, LogTfIdf, LogTfIdfModel

CORPUS = [
    ["报纸", "投递", "报纸", "晚", "报纸"],
    ["报纸", "价格", "续订", "价格"],
    ["投递", "晚", "投诉", "投诉", "投诉", "投诉"],
    [],
    None,
    ["价格", "贵", "续订", "报纸", "的"],
    ["的", "的", "投递", "晚", "罕见"],
]


@pytest.fixture(scope="module")
def corpus_df(spark):
    rows = [(i, terms) for i, terms in enumerate(CORPUS)]
    return spark.createDataFrame(rows, "id int, terms array<string>")


def numpy_weights(corpus, vocabulary: list[str]) -> np.ndarray:
    """Appendix A computed directly: N = emails, df = emails containing the term, tf = log2(n+1)."""
    docs = [terms or [] for terms in corpus]
    counts = np.array([[doc.count(term) for term in vocabulary] for doc in docs], dtype=float)
    n_docs = len(docs)
    df = (counts > 0).sum(axis=0)
    idf = np.log2(n_docs / df) + 1
    return np.log2(counts + 1) * idf


def test_weights_equal_the_numpy_computation_of_appendix_a(corpus_df):
    model = LogTfIdf(minTermCount=1).fit(corpus_df)
    terms, idf = model.kept_terms()
    assert model.num_docs == len(CORPUS)
    assert sorted(terms) == sorted({t for doc in CORPUS if doc for t in doc})
    expected = numpy_weights(CORPUS, terms)
    rows = sorted(model.transform(corpus_df).collect(), key=lambda r: r.id)
    got = np.vstack([r.vector.toArray() for r in rows])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    assert all(r.vector.size == len(terms) for r in rows)
    # spot check by hand: 投诉 appears 4 times in one of 7 emails
    i = terms.index("投诉")
    assert got[2, i] == pytest.approx(np.log2(5) * (np.log2(7 / 1) + 1))
    assert idf[i] == pytest.approx(np.log2(7) + 1)


def test_vocabulary_rules_reasons_and_term_ids(corpus_df):
    estimator = LogTfIdf(minTermCount=3, maxDocShare=0.5, stopWords=["的"], excludedTerms=["贵", "价格"])
    model = estimator.fit(corpus_df)
    vocab = model.vocabulary.set_index("term")
    # cf: 报纸 5, 投递 3, 晚 3, 投诉 4, 价格 3, 续订 2, 贵 1, 的 3, 罕见 1 ; N = 7
    assert vocab.loc["的", "reason"] == "stopword"
    # the manual list wins over the rare-term rule (贵 is also rare)
    assert vocab.loc["价格", "reason"] == "manual" and vocab.loc["贵", "reason"] == "manual"
    assert vocab.loc["续订", "reason"] == "rare" and vocab.loc["罕见", "reason"] == "rare"
    assert vocab.loc["报纸", "reason"] is None  # df 3 of 7 <= 0.5
    kept = model.vocabulary[~model.vocabulary["excluded"]]
    # ids by df desc then term asc: 投递 (3), 晚 (3), 报纸 (3), 投诉 (1)
    assert list(kept.sort_values("term_id")["term"]) == sorted(["投递", "晚", "报纸"]) + ["投诉"]
    assert list(kept["term_id"]) == [0, 1, 2, 3]
    assert model.vocabulary[model.vocabulary["excluded"]]["term_id"].isna().all()
    assert (vocab.loc["报纸", "df"], vocab.loc["报纸", "cf"]) == (3, 5)
    assert model.vocabulary_size == 4

    too_common = LogTfIdf(minTermCount=1, maxDocShare=0.4).fit(corpus_df).vocabulary.set_index("term")
    assert too_common.loc["报纸", "reason"] == "too_common"  # 3 / 7 > 0.4
    assert too_common.loc["投诉", "reason"] is None


def test_excluded_terms_do_not_reach_the_vectors(corpus_df):
    model = LogTfIdf(minTermCount=1, stopWords=["报纸"]).fit(corpus_df)
    terms, _ = model.kept_terms()
    assert "报纸" not in terms
    first = model.transform(corpus_df).orderBy("id").first()
    assert first.vector.size == len(terms)
    assert sorted(terms[i] for i in first.vector.indices) == ["投递", "晚"]


def test_vector_column_metadata_and_vocabulary_table(spark, corpus_df):
    model = LogTfIdf(minTermCount=2).fit(corpus_df)
    out = model.transform(corpus_df)
    assert out.schema["vector"].metadata == {"ml_attr": {"num_attrs": model.vocabulary_size}}
    table = model.vocabulary_frame(spark)
    assert table.schema == VOCABULARY_SCHEMA
    assert table.count() == len(model.vocabulary)
    assert table.filter("excluded").filter("term_id is not null").count() == 0


def test_model_save_and_load_give_identical_vectors(corpus_df, tmp_path):
    model = LogTfIdf(minTermCount=2, stopWords=["的"], outputCol="w").fit(corpus_df)
    model.save(str(tmp_path / "tfidf"))
    loaded = LogTfIdfModel.load(str(tmp_path / "tfidf"))
    assert loaded.num_docs == model.num_docs and loaded.getOutputCol() == "w"
    assert loaded.kept_terms()[0] == model.kept_terms()[0]
    before = [r.w for r in model.transform(corpus_df).orderBy("id").collect()]
    after = [r.w for r in loaded.transform(corpus_df).orderBy("id").collect()]
    assert before == after


def test_term_statistics_over_many_batches_equal_python_counts(spark):
    """df / cf counted per Arrow batch and merged (over 64 batches in one partition, so the
    partial counts are added inside the partition too) equal a plain Python count; null terms
    inside a list are ignored, a null list is an email without terms."""
    from collections import Counter

    from churn_spark.text.weighting import term_statistics

    rng = np.random.default_rng(5)
    words = ["报纸", "投递", "价格", "续订", "投诉", "晚", "贵", None]
    corpus = [None if i % 17 == 0 else list(rng.choice(np.array(words, dtype=object), size=int(rng.integers(0, 9))))
              for i in range(300)]
    df = spark.createDataFrame([(i, terms) for i, terms in enumerate(corpus)], "id int, terms array<string>")
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, "2")
    try:
        stats, n_docs = term_statistics(df.coalesce(1))
    finally:
        spark.conf.set(key, before)
    cf = Counter(t for doc in corpus if doc for t in doc if t is not None)
    doc_freq = Counter(t for doc in corpus if doc for t in set(doc) if t is not None)
    assert n_docs == len(corpus)
    got = {r.term: (r.df, r.cf) for r in stats.itertuples()}
    assert got == {t: (doc_freq[t], cf[t]) for t in cf}
