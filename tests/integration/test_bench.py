"""The benchmarks' own logic: the single-machine reference of ``make bench`` (its weighting, vocabulary,
window and encoding steps against hand computations and the pipeline's own rules, no Spark needed) and
the SVD comparison on the tiny world's LSI matrix."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from bench.common import parse_size, read_table
from bench.reference import encode_marketing, kept_terms, paper_weights, window_pairs
from bench.svd import METHODS, compare_on_lake, markdown_table
from churn_spark.lake.tables import Lake
from churn_spark.text.weighting import build_vocabulary


def test_parse_size():
    assert [parse_size(s) for s in ("20k", "100K", "1M", "5m", "1.5M", "7000", 3000)] == [
        20_000, 100_000, 1_000_000, 5_000_000, 1_500_000, 7_000, 3_000]


@pytest.mark.parametrize("module", ["pipeline", "svd", "kselect", "text", "generate", "synth_text"])
def test_every_benchmark_imports_and_parses_its_options(module, capsys):
    """``python -m bench.<module> --help``: the churn_spark names each benchmark uses still exist."""
    import importlib

    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(f"bench.{module}").main(["--help"])
    assert exit_.value.code == 0 and "usage: python -m bench" in capsys.readouterr().out


def test_memory_sample_finds_this_process():
    from bench.processes import memory_sample, process_tree_cpu

    sample = memory_sample()
    assert set(sample) == {"jvm_mib", "python_workers_mib", "driver_python_mib", "reference_mib"}
    assert sample["driver_python_mib"] > 0 and process_tree_cpu(os.getpid()) > 0


def test_paper_weights_match_a_hand_computation():
    counts = np.array([[0, 2, 1], [3, 0, 0], [1, 1, 0], [0, 0, 0]])
    n_docs, df = counts.shape[0], (counts > 0).sum(axis=0)
    idf = np.log2(n_docs / df) + 1.0
    expected = np.where(counts > 0, np.log2(counts + 1.0), 0.0) * idf
    np.testing.assert_allclose(paper_weights(sp.csr_matrix(counts), idf).toarray(), expected)
    assert idf[0] == pytest.approx(np.log2(4 / 2) + 1.0)


def test_kept_terms_follow_the_pipelines_vocabulary_rules():
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(40)]
    docs = [list(rng.choice(words, size=rng.integers(0, 12), p=np.arange(40, 0, -1) / 820)) for _ in range(60)]
    vectorizer = CountVectorizer(analyzer=list, lowercase=False)
    counts = vectorizer.fit_transform(docs)
    terms = vectorizer.get_feature_names_out()
    banned = {"w0", "w7"}
    keep, idf = kept_terms(counts, terms, min_count=3, max_doc_share=0.4, banned=banned)

    exploded = pd.DataFrame({"doc": np.repeat(np.arange(len(docs)), [len(d) for d in docs]),
                             "term": [t for d in docs for t in d]})
    stats = exploded.groupby("term").agg(df=("doc", "nunique"), cf=("doc", "size")).reset_index()
    vocab = build_vocabulary(stats, len(docs), min_term_count=3, max_doc_share=0.4, stop_words=["w0"],
                             excluded_terms=["w7"])
    kept = vocab[~vocab["excluded"]]
    assert set(terms[keep]) == set(kept["term"]) and 0 < len(keep) < len(terms)
    by_term = dict(zip(kept["term"], kept["idf"], strict=True))
    np.testing.assert_allclose(idf[keep], [by_term[t] for t in terms[keep]])


def test_window_pairs_keep_the_cutoff_day_and_drop_the_window_start_day():
    units = pd.DataFrame({"customer_id": ["a", "a", "b"],
                          "cutoff_date": pd.to_datetime(["2005-01-31", "2005-06-30", "2005-01-31"]).date})
    sent = pd.to_datetime(["2005-01-31 23:59", "2004-02-01 00:00", "2004-02-02 08:00", "2005-02-01 00:00",
                           "2005-01-15 10:00"], utc=True)
    emails = pd.DataFrame({"customer_id": ["a", "a", "a", "a", "b"], "sent_at": sent})
    pairs = window_pairs(units, emails, window_days=365)
    # 2005-01-31 - 365 days = 2004-02-01 (2004 is a leap year): that day is outside the window
    assert set(map(tuple, pairs.to_numpy())) == {(0, 0), (0, 2), (1, 0), (1, 3), (2, 4)}


def test_encode_marketing_imputes_training_medians_and_codes_levels():
    units = pd.DataFrame({"tenure": [1.0, None, 3.0, 10.0], "flag": [True, None, False, True],
                          "edition": ["X1", "X2", None, "X1"]})
    spec = [{"source": "tenure", "kind": "numeric", "name": "tenure", "missing_name": "tenure_missing"},
            {"source": "flag", "kind": "numeric", "name": "flag", "missing_name": None},
            {"source": "edition", "kind": "categorical", "levels": [
                {"value": "X2", "name": "edition_is_X2"}, {"value": None, "name": "edition_is_missing"}]}]
    names = ["tenure", "tenure_missing", "flag", "edition_is_X2", "edition_is_missing"]
    encoded = encode_marketing(units, spec, names, fit_rows=np.array([0, 1, 2]))
    np.testing.assert_allclose(encoded, [[1, 0, 1, 0, 0], [2, 1, 0.5, 1, 0], [3, 0, 0, 0, 1], [10, 0, 1, 0, 0]])


# ---------------------------------------------------------------------------------------
# the SVD methods side by side (bench.svd) on the tiny world's LSI matrix


def test_svd_comparison_scores_every_method_against_scipy(spark, cfg, tiny_warehouse):
    lsi_warehouse = tiny_warehouse  # the matrix its LSI stage decomposed
    comparison = compare_on_lake(spark, Lake(spark, cfg, root=lsi_warehouse), cfg, k=10)
    runs = {r["method"]: r for r in comparison["runs"]}
    assert set(runs) == set(METHODS)
    accuracy = ("max_rel_err_s", "max_rel_err_s_top_half", "max_angle_deg_top_k", "max_angle_deg_top_half")
    for run in runs.values():
        assert run["seconds"] > 0 and all(np.isfinite(run[key]) and run[key] >= 0 for key in accuracy)
    # Spark's ARPACK and scikit-learn's agree with scipy's svds to rounding
    for method in ("spark-arpack", "sklearn-arpack"):
        assert runs[method]["max_rel_err_s"] < 1e-8 and runs[method]["max_angle_deg_top_k"] < 1e-3
    assert comparison["randomized_within_target"] and runs["spark-randomized"]["max_rel_err_s"] < 1e-3
    assert runs["spark-randomized"]["spark_jobs"] >= 3 and runs["spark-arpack"]["spark_jobs"] >= 1
    assert comparison["arpack_over_randomized"] > 0 and comparison["same_matrix"]
    # the matrix is the one the LSI stage decomposed: same units and terms as its summary
    lsi = json.loads(read_table(lsi_warehouse, "pipeline_runs").query("stage == 'lsi'")["summary"].iloc[-1])
    assert (comparison["matrix"]["rows"], comparison["matrix"]["cols"]) == (lsi["train_units"], lsi["terms"])
    table = markdown_table(comparison)
    assert sum(line.startswith(f"| {m} |") for m in METHODS for line in table) == 4


def test_driver_memory_reads_the_heap_after_each_gc_pause_per_stage(tmp_path):
    """The driver's heap per stage: the largest heap after a pause within the stage, or the last before it."""
    from bench.pipeline import driver_memory
    from bench.processes import heap_after_gc

    log = tmp_path / "gc.log"
    young = "Pause Young (Normal) (G1 Evacuation Pause)"
    log.write_text("[2026-12-07T10:00:00.000+0000] Using G1\n"
                   f"[2026-12-07T10:00:01.000+0000] GC(0) {young} 300M->120M(1024M) 5ms\n"
                   "[2026-12-07T10:00:02.500+0000] GC(1) Concurrent Mark Cycle\n"
                   "[2026-12-07T10:00:03.000+0000] GC(2) Pause Full (System.gc()) 2G->512M(2048M) 40ms\n"
                   f"[2026-12-07T10:00:05.000+0000] GC(3) {young} 900M->256000K(2048M) 3ms\n")
    heap = heap_after_gc(str(log))
    assert [mib for _, mib in heap] == [120.0, 512.0, 250.0]
    t0 = heap[0][0] - 1.0  # 10:00:00
    windows = {"a": [t0 + 0.5, t0 + 3.5], "b": [t0 + 3.6, t0 + 4.9], "c": [t0 + 4.9, t0 + 6.0]}
    series = [(t0 + 1.0, {"jvm": 800.0, "py": 100.0}), (t0 + 5.5, {"jvm": 900.0, "py": 150.0})]
    out = driver_memory(series, windows, ("jvm", "py"), str(log))
    # b has no pause of its own: it needs at least what the last pause before it left
    assert out["stage_heap_after_gc_peak_mib"] == {"a": 512.0, "b": 512.0, "c": 512.0}
    assert out["heap_after_gc_peak_mib"] == 512.0
    assert out["stage_driver_peak_mib"] == {"a": 900.0, "b": None, "c": 1050.0}
    assert out["stage_driver_python_peak_mib"] == {"a": 100.0, "b": None, "c": 150.0}
    assert heap_after_gc(str(tmp_path / "missing.log")) == []
    # with the full-GC probe, only full collections count: the live heap
    assert [mib for _, mib in heap_after_gc(str(log), full_only=True)] == [512.0]
    live = driver_memory(series, windows, ("jvm", "py"), str(log), full_only=True)
    assert live["stage_heap_after_gc_peak_mib"] == {"a": 512.0, "b": 512.0, "c": 512.0}


def test_full_gc_probe_collects_the_whole_heap_of_this_process_jvm(spark):
    """The probe finds the session's JVM below this process and makes it run full collections (jcmd GC.run)."""
    import time

    from bench.processes import FullGcProbe, java_processes

    jvm = spark.sparkContext._gateway.proc.pid
    assert jvm in java_processes(os.getpid())
    beans = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()

    def old_collections() -> int:  # G1 counts a full collection under "G1 Old Generation"
        return sum(b.getCollectionCount() for b in beans if "Old" in b.getName())

    before = old_collections()
    probe = FullGcProbe(lambda: [jvm], interval=0.5)
    probe.start()
    time.sleep(3.0)
    probe.stop()
    assert old_collections() >= before + 2


def test_connect_memory_is_judged_by_the_live_heap_when_the_live_pass_ran():
    """The verdict takes the live heap per stage (the pass with forced full GCs), not the timed runs' heap
    after any pause, whose old-generation garbage says more about the collector than about the stage."""
    from bench.pipeline_report import connect_markdown, connect_overhead

    def run(heap: dict, **more) -> dict:
        return {"stage_seconds": {"text": 10.0, "score": 20.0}, "steps": {}, "wall_seconds": 31.0, "auc": {"m": 0.7},
                "stage_heap_after_gc_peak_mib": heap, "heap_after_gc_peak_mib": max(heap.values()),
                "stage_driver_python_peak_mib": {"text": 100.0, "score": 100.0}, **more}

    size = {"label": "1k", "memory": {"jvm_mib": 1.0, "driver_python_mib": 1.0, "python_workers_mib": 1.0},
            "spark": run({"text": 1500.0, "score": 1500.0}),
            "connect": run({"text": 900.0, "score": 900.0}, exit_code=0,
                           memory={"server_jvm_mib": 1.0, "client_python_mib": 1.0, "server_python_workers_mib": 1.0})}
    by_pauses = connect_overhead(size)["memory"]
    assert by_pauses["heap_figure"] == "heap_after_gc_peak_mib"
    assert by_pauses["connect_driver_heap_not_above_classic"]
    size["live_heap"] = {"probe_seconds": 5.0,
                         "classic": {"exit_code": 0, "stage_heap_after_gc_peak_mib": {"text": 400.0, "score": 300.0},
                                     "heap_after_gc_peak_mib": 400.0},
                         "connect": {"exit_code": 0, "stage_heap_after_gc_peak_mib": {"text": 380.0, "score": 350.0},
                                     "heap_after_gc_peak_mib": 380.0}}
    size["connect_overhead"] = over = connect_overhead(size)
    memory = over["memory"]
    assert memory["heap_figure"] == "live_heap_peak_mib" and memory["heap_measure"].startswith("live heap")
    assert memory["stages_with_more_driver_heap_on_connect"] == ["score"]
    assert not memory["connect_driver_heap_not_above_classic"]
    assert (memory["classic_heap_peak_mib"], memory["connect_heap_peak_mib"]) == (400.0, 380.0)
    text = "\n".join(connect_markdown(size))
    assert "| score | 20.0 | 20.0 |" in text and "| 300 | 350 |" in text and "(above in score)" in text
    # a live pass that failed on one side leaves the verdict to the timed runs
    size["live_heap"]["connect"]["exit_code"] = 1
    assert connect_overhead(size)["memory"]["heap_figure"] == "heap_after_gc_peak_mib"
