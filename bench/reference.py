"""The single-machine reference of ``make bench``: what a data scientist would write on one machine.

On the same bronze tables and cores as the Spark run, Spark idle, in a fresh child process
(:func:`reference_in_child`): the project's own clean / segment (plain ``jieba.posseg``) /
normalise functions in a ``multiprocessing`` pool; ``CountVectorizer`` counts weighted as in
Appendix A, ``w = log2(n + 1) · (log2(N / df) + 1)`` (not ``TfidfVectorizer``'s formula);
the sum per unit over its window as a sparse product; ``TruncatedSVD`` (randomized);
``StratifiedKFold`` CV of an unpenalised ``LogisticRegression`` over the k grid on the
selected marketing variables + the first k concepts, k by the same rule
(:func:`churn_spark.modeling.kselect.summarize_k`); the two final models and their test AUCs.

Plain jieba segments ~200 emails/s per core, so the reference segments at most ``max_emails``
emails and extrapolates the rest linearly; its later steps then use the Spark run's
``email_terms`` (the same functions).

Imports are made where they are used: the segmentation pool's workers import this module and
their start-up is timed (the rest of ``churn_spark`` costs them ~0.7 s each), and the driver of
``python -m bench``, whose memory is measured, never needs scikit-learn or joblib.
"""

from __future__ import annotations

import glob
import json
import os
import time
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bench.common import read_table

if TYPE_CHECKING:
    from churn_spark.config import Config

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


def segment_plain(cfg: Config, pairs: list[tuple], cores: int) -> list[list[str]]:
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


def run_reference(cfg: Config, warehouse: str, cores: int, max_emails: int) -> dict:
    """The single-machine reference on ``warehouse``'s bronze tables; seconds per step and AUCs."""
    from joblib import Parallel, delayed
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from churn_spark.app.artefacts import model_dir
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

