"""``make bench``: the whole pipeline at scale, and a single-machine reference on the same data.

For each size (``--sizes 100k 1M [5M]``: emails in the units' last terms, scale preset) this

1. runs the generated pipeline in-process (:func:`churn_spark.app.cli.main`, ``pipeline --preset
   scale``) in a fresh warehouse and reads each stage's seconds and summary from
   ``pipeline_runs`` (the text stage records its steps, the LSI stage its SVD seconds);
2. samples every 0.5 s, from ``/proc``, the memory (PSS) of the Spark JVM (driver and executor
   in local mode), of its Python workers (summed), of this Python process and of the reference's;
3. runs, in a fresh child process, the reference a data scientist would write on one machine,
   on the same bronze tables and cores, Spark idle: the project's own clean / segment (plain ``jieba.posseg``) /
   normalise functions in a ``multiprocessing`` pool; ``CountVectorizer`` counts weighted as in
   Appendix A, ``w = log2(n + 1) · (log2(N / df) + 1)`` (not ``TfidfVectorizer``'s formula);
   the sum per unit over its window as a sparse product; ``TruncatedSVD`` (randomized);
   ``StratifiedKFold`` CV of an unpenalised ``LogisticRegression`` over the k grid on the
   selected marketing variables + the first k concepts, k by the same rule
   (:func:`churn_spark.modeling.kselect.summarize_k`); the two final models and their test AUCs.

After each size's pipeline run (unless ``--no-svd-compare``), the LSI's SVD methods are compared
side by side on the matrix the LSI stage decomposed, at ``--svd-k`` (200) concepts:
spark-randomized, spark-arpack, scikit-learn's ``TruncatedSVD`` (randomized and arpack), each
timed and scored against ``scipy.sparse.linalg.svds`` (:mod:`bench.svd_methods`).

Plain jieba segments ~200 emails/s per core, so the reference segments at most
``--reference-max-emails`` emails and extrapolates the rest linearly; its later steps then use
the Spark run's ``email_terms`` (the same functions). Extrapolated figures are labelled so.

    .venv/bin/python -m bench.pipeline --sizes 100k 1M --out bench/results.json

Writes ``--out`` (JSON) and the same name with ``.md`` (tables). No figure is asserted.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict

import numpy as np
import pandas as pd
import scipy.sparse as sp

#: Spark steps compared with a reference step: (label, Spark step, reference step).
COMPARED = [("clean + segment", "clean_segment", "segment"), ("vocabulary + idf", "vocabulary", "vocabulary"),
            ("weights + aggregation", "weigh_aggregate", "weigh_aggregate"), ("SVD", "svd", "svd"),
            ("fold-in (+ LSI tables)", "fold_in", "fold_in"), ("k selection", "kselect", "kselect"),
            ("models", "models", "models"), ("evaluation", "evaluate", "evaluate")]
SPARK_ONLY = [("generate", "generate"), ("features", "features"), ("text: masking counts, model save", "text_rest"),
              ("selection (reference reuses its variables)", "selection"), ("score", "score")]
REFERENCE_ONLY = [("read tables (deltalake)", "read"), ("marketing encoding", "encode")]


def parse_size(label: str) -> int:
    """``20k`` -> 20,000; ``1M`` -> 1,000,000; ``1.5m``; ``5000``."""
    label = label.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(label[-1:], 1)
    return int(float(label[:-1] if factor > 1 else label) * factor)


# ---------------------------------------------------------------------------------------
# peak memory from /proc


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                    raw = fh.read()
            except OSError:
                continue
            ppid = int(raw.rsplit(")", 1)[1].split()[1])
            table[int(entry)] = (ppid, raw[raw.index("(") + 1:raw.rindex(")")])
    return table


def _pss_bytes(pid: int) -> int:
    """Proportional set size: resident memory with pages shared by forked workers split between them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0  # the process has just exited


def _tree(children: dict[int, list[int]], roots: list[int]) -> set[int]:
    found, stack = set(), list(roots)
    while stack:
        pid = stack.pop()
        found.add(pid)
        stack.extend(children.get(pid, []))
    return found


def memory_sample() -> dict[str, float]:
    """MiB (PSS) now: the JVM child(ren) of this process, their descendants (the Python workers,
    summed), this process (the driver's Python), and its other descendants (the reference's processes)."""
    table = _processes()
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (ppid, _) in table.items():
        children[ppid].append(pid)
    jvms = [p for p in children[os.getpid()] if table[p][1] == "java"]
    under_jvm = _tree(children, jvms)
    groups = {"jvm_mib": jvms, "python_workers_mib": under_jvm - set(jvms), "driver_python_mib": [os.getpid()],
              "reference_mib": _tree(children, [os.getpid()]) - under_jvm - {os.getpid()}}
    return {key: sum(_pss_bytes(p) for p in pids) / 2**20 for key, pids in groups.items()}


class MemorySampler(threading.Thread):
    """Peaks of :func:`memory_sample`, polled every ``interval`` seconds in a daemon thread."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval, self._lock, self._halt = interval, threading.Lock(), threading.Event()
        self._peaks = dict.fromkeys(("jvm_mib", "python_workers_mib", "driver_python_mib", "reference_mib"), 0.0)

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            sample = memory_sample()
            with self._lock:
                for key, value in sample.items():
                    self._peaks[key] = max(self._peaks[key], value)

    def take(self) -> dict[str, float]:
        """The peaks since the last call (MiB), then start again."""
        with self._lock:
            peaks, self._peaks = self._peaks, dict.fromkeys(self._peaks, 0.0)
        return {k: round(v, 1) for k, v in peaks.items()}

    def stop(self) -> None:
        self._halt.set()


# ---------------------------------------------------------------------------------------
# the Spark pipeline


def read_table(warehouse: str, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A lake table's current snapshot with delta-rs (no Spark), as pandas."""
    from deltalake import DeltaTable
    return DeltaTable(os.path.join(warehouse, name)).to_pyarrow_table(columns=columns).to_pandas()


def run_spark(emails: int, warehouse: str, overrides: list[str]) -> dict:
    """The generated pipeline at ``emails`` (scale preset): exit code, wall seconds, per-step seconds."""
    from churn_spark.app.cli import main as cli_main

    argv = ["pipeline", "-c", "local", "--preset", "scale", "--emails", str(emails), "--warehouse", warehouse]
    for item in overrides:
        argv += ["--conf", item]
    started = time.perf_counter()
    code = cli_main(argv)
    result: dict = {"exit_code": code, "wall_seconds": round(time.perf_counter() - started, 2)}
    if code != 0 or not os.path.exists(os.path.join(warehouse, "pipeline_runs")):
        return result
    runs = read_table(warehouse, "pipeline_runs").sort_values("started_at")
    stages = {r.stage: (float(r.seconds), json.loads(r.summary or "{}")) for r in runs.itertuples()}
    seconds = {name: round(value[0], 2) for name, value in stages.items()}
    text, lsi = stages.get("text", (0.0, {})), stages.get("lsi", (0.0, {}))
    steps = dict(text[1].get("seconds", {}))
    steps["text_rest"] = text[0] - sum(steps.values())
    steps["svd"] = lsi[1].get("svd_seconds", float("nan"))
    steps["fold_in"] = lsi[0] - steps["svd"]
    steps.update({s: seconds[s] for s in ("generate", "features", "selection", "kselect", "models", "evaluate",
                                          "score") if s in seconds})
    evaluation = stages.get("evaluate", (0, {}))[1]
    result.update(
        stage_seconds=seconds, steps={k: round(v, 2) for k, v in steps.items()},
        emails_segmented=text[1].get("emails"), emails_outside_windows=text[1].get("emails_outside_windows"),
        vocabulary_size=text[1].get("vocabulary_size"),
        train_units=lsi[1].get("train_units"), k=stages.get("kselect", (0, {}))[1].get("k"),
        selected=stages.get("selection", (0, {}))[1].get("selected"),
        auc={m["model"]: m["auc"] for m in evaluation.get("metrics", [])}, oracle_auc=evaluation.get("oracle_auc"))
    return result


# ---------------------------------------------------------------------------------------
# the single-machine reference


def paper_weights(counts: sp.spmatrix, idf: np.ndarray) -> sp.csr_matrix:
    """Appendix A on a document-by-term count matrix: ``w_ij = log2(n_ij + 1) · idf_j``."""
    weights = sp.csr_matrix(counts, dtype=float, copy=True)
    weights.data = np.log2(weights.data + 1.0) * idf[weights.indices]
    return weights


def kept_terms(counts: sp.csr_matrix, terms: np.ndarray, min_count: int, max_doc_share: float,
               banned: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """Columns kept by the vocabulary rules (not banned, ``cf >= min_count``, ``df <= share · N``) and
    every column's ``idf = log2(N / df) + 1``, from the training emails' counts."""
    n_docs = counts.shape[0]
    cf = np.asarray(counts.sum(axis=0)).ravel()
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    keep = ~np.isin(terms, list(banned)) & (cf >= min_count) & (df <= max_doc_share * n_docs)
    return np.flatnonzero(keep), np.log2(n_docs / np.maximum(df, 1)) + 1.0


_WORKER: dict = {}


def _start_worker(user_dict: str, keep: list[str], drop: list[str], synonyms: dict, options: dict) -> None:
    from churn_spark.text.dictionaries import parse_user_dict
    from churn_spark.text.segment import Segmenter
    _WORKER.update(segmenter=Segmenter("jieba", parse_user_dict(user_dict), keep, drop), synonyms=synonyms,
                   options=options)


def _segment(pairs: list[tuple]) -> list[list[str]]:
    from churn_spark.text.cleaning import clean_email
    from churn_spark.text.normalize import normalize_terms
    segmenter, synonyms, options = _WORKER["segmenter"], _WORKER["synonyms"], _WORKER["options"]
    return [normalize_terms(segmenter.terms(clean_email(s if isinstance(s, str) else None,
                                                        b if isinstance(b, str) else None, **options)), synonyms)
            for s, b in pairs]


def segment_plain(cfg, pairs: list[tuple], cores: int) -> list[list[str]]:
    """Clean, segment (plain ``jieba.posseg``) and normalise in a pool of ``cores`` processes."""
    import multiprocessing

    from churn_spark.text.pipeline import build_text_stages

    stages = build_text_stages(cfg)
    init = (stages.segmenter.getOrDefault("userDictionary"), list(cfg.text.keep_pos), list(cfg.text.drop_pos),
            dict(stages.normalizer.getOrDefault("synonyms")),
            {"to_simplified": cfg.text.to_simplified, "strip_quotes": cfg.text.strip_quotes})
    chunks = [pairs[i:i + 500] for i in range(0, len(pairs), 500)]
    # spawn, not fork: this process runs the py4j gateway threads
    with multiprocessing.get_context("spawn").Pool(cores, _start_worker, init) as pool:
        return [terms for chunk in pool.map(_segment, chunks) for terms in chunk]


def window_pairs(units: pd.DataFrame, emails: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """(unit row, email row) where ``cutoff - window < day(sent_at) <= cutoff`` (``window_start`` wins)."""
    pairs = units[[c for c in ("customer_id", "cutoff_date", "window_start") if c in units]].reset_index(
        names="unit").merge(emails[["customer_id", "sent_at"]].reset_index(names="email"), on="customer_id")
    sent = pairs["sent_at"]
    if getattr(sent.dt, "tz", None) is not None:
        sent = sent.dt.tz_convert(None)
    day, cutoff = sent.dt.normalize(), pd.to_datetime(pairs["cutoff_date"])
    start = cutoff - pd.Timedelta(days=window_days)
    if "window_start" in pairs:
        start = pd.to_datetime(pairs["window_start"]).fillna(start)
    return pairs.loc[(day > start) & (day <= cutoff), ["unit", "email"]]


def encode_marketing(units: pd.DataFrame, spec: list[dict], variables: list[str], fit_rows: np.ndarray) -> np.ndarray:
    """The selected candidates as MarketingEncoderModel builds them (names and levels from its saved
    spec; the medians are computed here, with pandas, on ``fit_rows``)."""
    columns = {}
    for column in spec:
        source = units[column["source"]]
        if column["kind"] == "numeric":
            x = source.map(lambda v: np.nan if v is None else float(v)) if source.dtype == object else source
            x = x.astype(float)
            columns[column["name"]] = x.fillna(x[fit_rows].median())
            if column["missing_name"]:
                columns[column["missing_name"]] = x.isna().astype(float)
        else:
            for level in column["levels"]:
                hit = source.isna() if level["value"] is None else source == level["value"]
                columns[level["name"]] = hit.astype(float)
    return np.column_stack([columns[v].to_numpy() for v in variables])


def _fit_score(x: np.ndarray, columns: int, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Plain maximum-likelihood logistic regression on the first ``columns`` of ``x`` fitted on the
    ``train`` rows; the scores of the ``test`` rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # C = inf: no penalty (scikit-learn >= 1.8 spells penalty=None so); scaling only helps L-BFGS converge
    model = make_pipeline(StandardScaler(), LogisticRegression(C=np.inf, max_iter=2000))
    return model.fit(x[train, :columns], y[train]).decision_function(x[test, :columns])


def _cv_auc(x: np.ndarray, columns: int, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(y[test], _fit_score(x, columns, y, train, test)))


def run_reference(cfg, warehouse: str, cores: int, max_emails: int) -> dict:
    """The single-machine reference on ``warehouse``'s bronze tables; seconds per step and AUCs."""
    from joblib import Parallel, delayed
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from churn_spark.app.stages.common import model_dir
    from churn_spark.modeling.kselect import summarize_k
    from churn_spark.text.dictionaries import parse_term_list, read_text

    tc, lc, seed = cfg.text, cfg.lsi, cfg.run.seed
    seconds: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(step: str) -> None:
        now = time.perf_counter()
        seconds[step] = round(seconds.get(step, 0.0) + now - clock[0], 2)
        clock[0] = now

    emails = read_table(warehouse, "emails")
    observations = read_table(warehouse, "observations")
    lap("read")

    # clean + segment the emails in some unit's window, as Spark's text stage does (labelled or
    # not); a sample when the corpus is large, its time extrapolated linearly
    windowed = np.unique(window_pairs(observations, emails, tc.window_days)["email"])
    sample = np.sort(np.random.default_rng(seed).permutation(windowed)[:max_emails])
    terms = segment_plain(cfg, list(zip(emails["subject"].iloc[sample], emails["body"].iloc[sample],
                                        strict=True)), cores)
    lap("segment")
    out: dict = {"segmented_emails": len(sample), "windowed_emails": len(windowed),
                 "segment_extrapolated": len(sample) < len(windowed), "segment_measured_seconds": seconds["segment"]}
    seconds["segment"] = round(seconds["segment"] * len(windowed) / len(sample), 2)
    spark_terms = read_table(warehouse, "email_terms", ["email_id", "terms"]).set_index("email_id")["terms"]
    # emails outside every window are not in email_terms (reindex gives NaN): no terms
    spark_terms = spark_terms.reindex(emails["email_id"]).map(
        lambda t: list(t) if isinstance(t, (list, tuple, np.ndarray)) else []).to_numpy()
    out["same_terms_as_spark"] = float(np.mean([a == b for a, b in zip(terms, spark_terms[sample], strict=True)]))
    if out["segment_extrapolated"]:
        tokens = spark_terms  # identical functions: the rest of the reference starts from Spark's terms
    else:
        tokens = np.empty(len(emails), dtype=object)
        tokens[sample] = terms
    clock[0] = time.perf_counter()

    # vocabulary + idf on the training emails (distinct emails in a training unit's window)
    units = observations[observations["churn"].notna()].reset_index(drop=True)
    pairs = window_pairs(units, emails, tc.window_days)
    train_unit = (units["split"] == "train").to_numpy()
    train_emails = np.unique(pairs["email"][train_unit[pairs["unit"]]])
    vectorizer = CountVectorizer(analyzer=list, lowercase=False)  # tokens are term lists already
    train_counts = vectorizer.fit_transform(tokens[train_emails])
    banned = {*parse_term_list(read_text(cfg.path("text.stopwords"))),
              *parse_term_list(read_text(cfg.path("text.exclusions")))}
    keep, idf = kept_terms(train_counts, vectorizer.get_feature_names_out(), tc.min_term_count, tc.max_doc_share,
                           banned)
    lap("vocabulary")

    # weights of every email in a window, summed per unit (units x emails indicator product)
    window_emails, position = np.unique(pairs["email"], return_inverse=True)
    weights = paper_weights(vectorizer.transform(tokens[window_emails])[:, keep], idf[keep])
    indicator = sp.csr_matrix((np.ones(len(pairs)), (pairs["unit"].to_numpy(), position)),
                              shape=(len(units), len(window_emails)))
    matrix = (indicator @ weights).tocsr()
    # the models use the units with emails only (as the paper's main study): keep those rows
    with_emails = np.bincount(pairs["unit"], minlength=len(units)) > 0
    units, matrix, train_unit = units[with_emails].reset_index(drop=True), matrix[with_emails], train_unit[with_emails]
    lap("weigh_aggregate")

    # SVD of the training units; fold-in u = a V / s of the test units
    fit_rows, test_rows = np.flatnonzero(train_unit), np.flatnonzero((units["split"] == "test").to_numpy())
    k_max = min(lc.k_max, min(len(fit_rows), matrix.shape[1]) - 1)
    svd = TruncatedSVD(k_max, algorithm="randomized", random_state=seed).fit(matrix[fit_rows])
    lap("svd")
    concepts = (matrix @ svd.components_.T) / svd.singular_values_
    lap("fold_in")

    variables = read_table(warehouse, "feature_selection").sort_values("step")["variable"].tolist()
    metadata = glob.glob(os.path.join(model_dir(cfg), "encoder", "metadata", "part-*"))[0]  # Spark ML's params
    with open(metadata, encoding="utf-8") as fh:
        spec = json.loads(json.loads(fh.readline())["paramMap"]["encoding"])["columns"]
    design = np.hstack([encode_marketing(units, spec, variables, fit_rows), concepts])  # marketing, then concepts
    labels = units["churn"].astype(int).to_numpy()
    lap("encode")

    # CV over the k grid: each fit uses the marketing columns and the first k concepts
    y_train = labels[fit_rows]
    grid = sorted({int(k) for k in lc.k_grid if 1 <= int(k) <= k_max})
    folds = list(StratifiedKFold(lc.cv_folds, shuffle=True, random_state=seed).split(fit_rows, y_train))
    jobs = [(k, train, test) for k in grid for train, test in folds]
    aucs = Parallel(n_jobs=cores)(delayed(_cv_auc)(design, len(variables) + k, labels, fit_rows[train],
                                                   fit_rows[test])
                                  for k, train, test in jobs)
    by_k: dict[int, list[float]] = defaultdict(list)
    for (k, _, _), auc in zip(jobs, aucs, strict=True):
        by_k[k].append(auc)
    chosen = summarize_k(by_k, lc.k_rule).chosen_k
    lap("kselect")

    scores = {name: _fit_score(design, len(variables) + (chosen if name == "structured_text" else 0), labels,
                               fit_rows, test_rows) for name in ("structured", "structured_text")}
    lap("models")
    out["auc"] = {name: float(roc_auc_score(labels[test_rows], s)) for name, s in scores.items()}
    lap("evaluate")
    out.update(seconds=seconds, k=chosen, k_max=k_max, vocabulary_size=len(keep), train_units=len(fit_rows),
               test_units=len(test_rows), cv_auc={k: round(float(np.mean(v)), 4) for k, v in by_k.items()})
    return out


def _reference_job(overrides: list[str], warehouse: str, cores: int, max_emails: int, out: str) -> None:
    from churn_spark.config import load_config
    cfg = load_config(["local"], [*overrides, f"run.warehouse={warehouse}"])
    result = run_reference(cfg, warehouse, cores, max_emails)
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({**result, "cores": cores}, fh)


def reference_in_child(overrides: list[str], warehouse: str, cores: int, max_emails: int) -> dict:
    """:func:`run_reference` in a fresh process: its memory is its own and the driver's stays clean."""
    import multiprocessing

    out = os.path.join(warehouse, "_reference.json")
    child = multiprocessing.get_context("spawn").Process(
        target=_reference_job, args=(overrides, warehouse, cores, max_emails, out))
    child.start()
    child.join()
    if child.exitcode != 0:
        return {"error": f"reference process exited with code {child.exitcode} (traceback above)"}
    with open(out, encoding="utf-8") as fh:
        return json.load(fh)


# ---------------------------------------------------------------------------------------
# the SVD methods side by side


def svd_compare(cfg, warehouse: str, k: int, arpack_timeout: float | None) -> dict:
    """:func:`bench.svd_methods.compare_on_lake` on ``warehouse`` in the pipeline's session (an error
    is recorded, not raised: the rest of the bench goes on)."""
    from pyspark.sql import SparkSession

    from bench.svd_methods import compare_on_lake
    from churn_spark.lake.tables import Lake

    spark = SparkSession.getActiveSession()
    try:
        return compare_on_lake(spark, Lake(spark, cfg, root=warehouse), cfg, k, arpack_timeout=arpack_timeout)
    except Exception as err:  # a benchmark reports a failed part and goes on
        import traceback
        traceback.print_exc()
        return {"error": f"{type(err).__name__}: {err}"}


# ---------------------------------------------------------------------------------------
# the run and its report


def machine_info() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    with open("/proc/meminfo", encoding="ascii") as fh:
        ram = int(fh.readline().split()[1]) * 1024
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    versions = {"python": platform.python_version(), "java": java[0] if java else "?"}
    for package in ("pyspark", "scikit-learn", "numpy", "scipy", "jieba", "rjieba", "deltalake"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {"cpu_count": os.cpu_count(), "ram_gib": round(ram / 2**30, 1), "load_average_start": os.getloadavg(),
            "platform": platform.platform(), "versions": versions}


def compare(size: dict) -> dict:
    """Per-step ratio reference / Spark, and the totals over the steps both do (plus the reference's own)."""
    spark, ref = size["spark"]["steps"], size.get("reference", {}).get("seconds")
    if not ref:
        return {}
    ratios = {s: round(ref[r] / spark[s], 2) for _, s, r in COMPARED if spark.get(s) and r in ref}
    spark_total = sum(spark.get(s, 0.0) for _, s, _ in COMPARED) + spark.get("text_rest", 0.0)
    ref_total = sum(ref.values())
    auc_gap = {m: round(abs(size["spark"]["auc"][m] - a), 4) for m, a in size["reference"]["auc"].items()
               if m in size["spark"].get("auc", {})}
    return {"ratio_reference_over_spark": ratios, "spark_comparable_seconds": round(spark_total, 1),
            "reference_seconds": round(ref_total, 1), "speedup": round(ref_total / spark_total, 2),
            "auc_abs_difference": auc_gap, "auc_within_0.01": all(v <= 0.01 for v in auc_gap.values())}


def targets(results: dict) -> dict:
    """The issue's targets, as measured (never asserted)."""
    sizes = [s for s in results["sizes"] if s["spark"].get("exit_code") == 0]
    out: dict = {f"{s['label']}_auc_within_0.01": {"abs_difference": s["comparison"]["auc_abs_difference"],
                                                   "met": s["comparison"]["auc_within_0.01"]}
                 for s in sizes if s.get("comparison")}
    for s in sizes:
        svd = s.get("svd_compare", {})
        if "arpack_over_randomized" in svd:
            bound = "at least " if svd["arpack_over_randomized_is_lower_bound"] else ""
            out[f"{s['label']}_svd_randomized_5x_faster_than_arpack"] = {
                "arpack_over_randomized": f"{bound}{svd['arpack_over_randomized']:.2f}", "k": svd["k"],
                "met": svd["arpack_over_randomized"] >= 5}
        if "randomized_within_target" in svd:
            randomized = next(r for r in svd["runs"] if r["method"] == "spark-randomized")
            out[f"{s['label']}_svd_randomized_top_k_within_1e-3"] = {
                "max_rel_err_s": f"{randomized['max_rel_err_s']:.1e}", "k": svd["k"],
                "met": svd["randomized_within_target"]}
    one_m = next((s for s in sizes if s["emails_target"] == 1_000_000), None)
    if one_m:
        out["1M_pipeline_under_10_min"] = {"wall_seconds": one_m["spark"]["wall_seconds"],
                                           "met": one_m["spark"]["wall_seconds"] < 600}
        if one_m.get("comparison"):
            out["1M_at_least_2x_reference"] = {"speedup": one_m["comparison"]["speedup"],
                                               "met": one_m["comparison"]["speedup"] >= 2}
    if len(sizes) > 1:  # the two largest sizes (1M -> 5M in the issue): fixed costs weigh least there
        small, large = sorted(sizes, key=lambda s: s["emails_target"])[-2:]
        growth = large["spark"]["wall_seconds"] / small["spark"]["wall_seconds"]
        scale = large["emails_target"] / small["emails_target"]
        out["no_worse_than_linear"] = {"from": small["label"], "to": large["label"], "time_ratio": round(growth, 2),
                                       "size_ratio": scale, "met": growth <= scale}
        added = [driver_growth_mib(small), driver_growth_mib(large)]
        per_email = (added[1] - added[0]) * 2**20 / max(
            large["spark"]["emails_segmented"] - small["spark"]["emails_segmented"], 1)
        out["driver_memory_not_proportional"] = {
            "driver_python_added_mib": [round(a, 1) for a in added],
            "bytes_per_extra_email": round(per_email, 1), "met": per_email < 20,
            "note": "proxy: what each Spark run added to the peak memory (PSS) of the driver's Python process (in "
                    "local mode the JVM is driver and executor at once, so its memory cannot tell them apart); met = "
                    "under 20 bytes per extra email (collecting even the email ids would cost more)"}
    return out


def driver_growth_mib(size: dict) -> float:
    """Peak PSS of the driver's Python during the size's Spark run minus its PSS when the run started."""
    return size["memory"]["driver_python_mib"] - size.get("driver_python_start_mib", 0.0)


def _count(value) -> str:
    return f"{int(value):,}" if value is not None else "?"


def markdown(results: dict) -> str:
    from bench.svd_methods import markdown_table as svd_markdown_table

    m = results["machine"]
    lines = [f"# churn-spark bench ({results['started']})", "",
             f"{m['cpu_count']} cores, {m['ram_gib']} GiB, load average {m['load_average_start'][0]:.1f} at start, "
             f"{m.get('load_average_end', [float('nan')])[0]:.1f} at end; Spark {m['versions'].get('pyspark')}, "
             f"scikit-learn {m['versions']['scikit-learn']}, segmenter {results['segmenter']}. Wall-clock seconds; "
             "ratio = reference / Spark; * = extrapolated from a sample."]
    if results["segmenter"] != "jieba":
        lines += ["", f"Spark segments with {results['segmenter']} (jieba's algorithm, the Rust port for the "
                      "dictionary part); the reference with plain jieba.posseg, as a notebook would: the clean + "
                      "segment ratio measures that choice as much as Spark."]
    for size in results["sizes"]:
        spark = size["spark"]
        outside = spark.get("emails_outside_windows")
        lines += ["", f"## {size['label']} emails (scale preset; {_count(spark.get('emails_segmented'))} emails in "
                      f"some unit's window segmented (emails/s below are per segmented email)"
                      + (f", {_count(outside)} outside every window skipped" if outside is not None else "")
                      + f"; {_count(spark.get('train_units'))} training units with emails)", ""]
        if spark.get("exit_code") != 0:
            lines.append(f"Spark pipeline FAILED (exit code {spark.get('exit_code')}); see the log above.")
            continue
        steps, n = spark["steps"], spark.get("emails_segmented") or size["emails_target"]
        ref = size.get("reference", {})
        seconds, ratios = ref.get("seconds", {}), size.get("comparison", {}).get("ratio_reference_over_spark", {})
        lines += ["| step | Spark s | Spark emails/s | reference s | ratio |", "|---|---:|---:|---:|---:|"]
        for label, key, ref_key in COMPARED:
            star = "*" if ref_key == "segment" and ref.get("segment_extrapolated") else ""
            value = f"{seconds[ref_key]:.1f}{star}" if ref_key in seconds else "—"
            ratio = f"{ratios[key]:.2f}{star}" if key in ratios else "—"
            lines.append(f"| {label} | {steps.get(key, float('nan')):.1f} | {n / max(steps.get(key, 0), 1e-9):,.0f} "
                         f"| {value} | {ratio} |")
        lines += [f"| {label} | {steps[key]:.1f} | {n / max(steps[key], 1e-9):,.0f} | — | — |"
                  for label, key in SPARK_ONLY if key in steps]
        lines += [f"| {label} | — | — | {seconds[key]:.1f} | — |" for label, key in REFERENCE_ONLY if key in seconds]
        mem, ref_mem = size["memory"], size.get("reference_memory", {}).get("reference_mib", 0)
        wall = spark["wall_seconds"]
        lines += ["", f"Whole Spark pipeline: {wall:.1f} s ({n / wall:,.0f} emails/s). Peak memory (PSS): JVM "
                      f"(driver = executor) {mem['jvm_mib']:,.0f} MiB, Python workers "
                      f"{mem['python_workers_mib']:,.0f} MiB, driver Python {mem['driver_python_mib']:,.0f} MiB"
                      + (f" ({driver_growth_mib(size):+,.0f} MiB during the run)" if "driver_python_start_mib" in size
                         else "") + "; "
                      f"reference process(es) {ref_mem:,.0f} MiB."]
        if "error" in ref:
            lines.append(f"Reference FAILED: {ref['error']}.")
        elif ref:
            c = size["comparison"]
            extrapolated = " (segmentation extrapolated)" if ref["segment_extrapolated"] else ""
            lines += [f"Compared steps: Spark {c['spark_comparable_seconds']:.1f} s, reference "
                      f"{c['reference_seconds']:.1f} s{extrapolated}: reference / Spark = {c['speedup']:.2f} "
                      "(above 1: Spark is faster).", "",
                      "| model | Spark AUC | reference AUC | difference |", "|---|---:|---:|---:|"]
            gaps = c["auc_abs_difference"]
            lines += [f"| {m} | {spark['auc'].get(m, float('nan')):.4f} | {a:.4f} | {gaps.get(m, float('nan')):.4f} |"
                      for m, a in ref["auc"].items()]
            lines.append(f"k: Spark {spark['k']}, reference {ref['k']}; vocabulary Spark {spark['vocabulary_size']}, "
                         f"reference {ref['vocabulary_size']}; the reference's plain-jieba terms equal Spark's for "
                         f"{100 * ref['same_terms_as_spark']:.2f}% of {ref['segmented_emails']:,} emails.")
        svd = size.get("svd_compare")
        if svd and "error" in svd:
            lines += ["", f"SVD comparison FAILED: {svd['error']}."]
        elif svd:
            lines += ["", f"### SVD methods side by side ({size['label']})", "", *svd_markdown_table(svd)]
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for name, t in results.get("targets", {}).items():
        shown = ", ".join(f"{k} {v}" for k, v in t.items() if k not in ("met", "note"))
        lines.append(f"| {name} | {shown} | {'yes' if t['met'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def _write(results: dict, out: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=2, default=str)
    with open(os.path.splitext(out)[0] + ".md", "w", encoding="utf-8") as fh:
        fh.write(markdown(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["100k", "1M"], help="emails per run: 100k 1M 5M ...")
    parser.add_argument("--work", help="folder for the warehouses (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the warehouses afterwards")
    parser.add_argument("--out", default="bench/results.json", help="JSON results; the tables go to .md")
    parser.add_argument("--reference-max-emails", default="100k", help="emails the reference segments itself")
    parser.add_argument("--reference-up-to", default="1M", help="largest size with a reference run")
    parser.add_argument("--segmenter", choices=["jieba", "rjieba"], help="Spark's text.segmenter (default: conf)")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="pipeline override")
    parser.add_argument("--no-svd-compare", action="store_true", help="skip the SVD methods side by side")
    parser.add_argument("--svd-k", type=int, default=200, help="concepts of the SVD comparison (default 200)")
    parser.add_argument("--svd-arpack-timeout", type=float, default=1800.0,
                        help="seconds before the comparison's spark-arpack is cancelled (default 1800)")
    args = parser.parse_args(argv)
    from bench.svd_methods import JOB_COUNTING_CONF
    from churn_spark.config import load_config

    overrides = [*args.conf, *([f"text.segmenter={args.segmenter}"] if args.segmenter else [])]
    cfg = load_config(["local"], overrides)
    work = args.work or tempfile.mkdtemp(prefix="churn_bench_")
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine_info(), "argv": sys.argv[1:],
               "segmenter": cfg.text.segmenter, "overrides": overrides, "sizes": []}
    sampler = MemorySampler()
    sampler.start()
    for label in args.sizes:
        n = parse_size(label)
        warehouse = os.path.join(os.path.abspath(work), f"wh_{label}")
        shutil.rmtree(warehouse, ignore_errors=True)  # a fresh warehouse: no stage may be skipped
        size: dict = {"label": label, "emails_target": n, "load_average": os.getloadavg()}
        results["sizes"].append(size)
        sampler.take()
        # the driver process lives on across sizes (imports, the previous size's comparison): what a run
        # adds is its peak minus this
        size["driver_python_start_mib"] = memory_sample()["driver_python_mib"]
        # the comparison counts Spark jobs: the session must keep their status (a static setting)
        size["spark"] = run_spark(n, warehouse, [*overrides, *([] if args.no_svd_compare else JOB_COUNTING_CONF)])
        size["memory"] = sampler.take()
        _write(results, args.out)
        if size["spark"]["exit_code"] == 0 and not args.no_svd_compare:
            size["svd_compare"] = svd_compare(cfg, warehouse, args.svd_k, args.svd_arpack_timeout)
            size["svd_compare_memory"] = sampler.take()
            _write(results, args.out)
        if size["spark"]["exit_code"] == 0 and n <= parse_size(args.reference_up_to):
            from pyspark.sql import SparkSession
            cores = SparkSession.getActiveSession().sparkContext.defaultParallelism
            size["reference"] = reference_in_child(overrides, warehouse, cores, parse_size(args.reference_max_emails))
            size["reference_memory"] = sampler.take()
            if "error" not in size["reference"]:
                size["comparison"] = compare(size)
        if not args.keep:
            shutil.rmtree(warehouse, ignore_errors=True)
        results["targets"] = targets(results)
        _write(results, args.out)
        print(markdown(results), flush=True)
    sampler.stop()
    results["machine"]["load_average_end"] = os.getloadavg()
    _write(results, args.out)
    if not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(s["spark"].get("exit_code") == 0 for s in results["sizes"]) else 1


if __name__ == "__main__":
    # run the importable module's main: functions sent to worker processes must pickle as
    # bench.pipeline.<name>, which a worker can import, not as __main__.<name>
    from bench.pipeline import main as module_main
    sys.exit(module_main())
