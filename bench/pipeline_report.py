"""The report of ``make bench``: Spark against the reference per step, Spark Connect against a classic session
per stage, the performance targets, the Markdown tables."""

from __future__ import annotations

from bench.svd import markdown_table as svd_markdown_table

#: Spark steps compared with a reference step: (label, Spark step, reference step).
COMPARED = [("clean + segment", "clean_segment", "segment"), ("vocabulary + idf", "vocabulary", "vocabulary"),
            ("weights + aggregation", "weigh_aggregate", "weigh_aggregate"), ("SVD", "svd", "svd"),
            ("fold-in (+ LSI tables)", "fold_in", "fold_in"), ("k selection", "kselect", "kselect"),
            ("models", "models", "models"), ("evaluation", "evaluate", "evaluate")]
SPARK_ONLY = [("generate", "generate"), ("features", "features"), ("text: masking counts, model save", "text_rest"),
              ("selection (reference reuses its variables)", "selection"), ("score", "score")]
REFERENCE_ONLY = [("read tables (deltalake)", "read"), ("marketing encoding", "encode")]
#: the steps within a stage (the text stage's summary, the LSI stage's SVD seconds), shown under it
SUBSTEPS = {"text": [("clean + segment", "clean_segment"), ("vocabulary + idf", "vocabulary"),
                     ("weights + aggregation", "weigh_aggregate"), ("masking counts, model save", "text_rest")],
            "lsi": [("SVD", "svd"), ("fold-in (+ LSI tables)", "fold_in")]}
#: the results a Connect run must reproduce exactly
SAME_RESULTS = ("k", "selected", "auc", "oracle_auc", "vocabulary_size", "emails_segmented", "train_units")


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


def _side_by_side(classic: float, connect: float) -> dict:
    return {"classic_seconds": classic, "connect_seconds": connect,
            "ratio": round(connect / classic, 2) if classic > 0 else None,
            "difference_seconds": round(connect - classic, 2)}


def connect_overhead(size: dict) -> dict:
    """The Connect run against the classic one (``size["connect"]``, ``size["spark"]``): per stage (and per
    step within text and LSI) seconds, ratio connect / classic, difference, the driver side's peak memory;
    totals; whether the results are identical; the driver side's peak memory of each."""
    classic, connect = size["spark"], size["connect"]
    live = size.get("live_heap") or {}
    live_ok = all((live.get(side) or {}).get("exit_code") == 0 for side in ("classic", "connect"))
    stages = {}
    for name, seconds in classic["stage_seconds"].items():
        if name in connect["stage_seconds"]:
            stages[name] = {**_side_by_side(seconds, connect["stage_seconds"][name]),
                            **{f"{side}_{figure}": run.get(f"stage_{figure}", {}).get(name)
                               for side, run in (("classic", classic), ("connect", connect))
                               for figure in ("heap_after_gc_peak_mib", "driver_python_peak_mib",
                                              "driver_peak_mib")}}
            if live_ok:
                stages[name].update({f"{side}_live_heap_peak_mib":
                                     (live[side]["stage_heap_after_gc_peak_mib"] or {}).get(name)
                                     for side in ("classic", "connect")})
    steps = {key: _side_by_side(classic["steps"][key], connect["steps"][key])
             for parts in SUBSTEPS.values() for _, key in parts if key in classic["steps"] and key in connect["steps"]}
    total = _side_by_side(round(sum(classic["stage_seconds"].values()), 2),
                          round(sum(connect["stage_seconds"].values()), 2))
    gaps = [abs(a - connect["auc"][m]) for m, a in classic.get("auc", {}).items() if m in connect.get("auc", {})]
    gaps += [abs(a - connect["oracle_auc"][m]) for m, a in (classic.get("oracle_auc") or {}).items()
             if m in (connect.get("oracle_auc") or {})]
    same = {key: classic.get(key) == connect.get(key) for key in SAME_RESULTS}
    # the requirement's "driver memory" is spark.driver.memory, the JVM's heap: the live heap per stage when
    # measured (a pass with forced full GCs), else the heap after any GC pause
    heap = "live_heap_peak_mib" if live_ok else "heap_after_gc_peak_mib"
    above, measured = _stages_above(stages, heap)
    python_above, _ = _stages_above(stages, "driver_python_peak_mib")
    mem, cmem = size["memory"], connect["memory"]
    return {
        "stages": stages, "steps": steps, "all_stages": total,
        "wall": _side_by_side(classic["wall_seconds"], connect["wall_seconds"]),
        "identical": same, "results_identical": all(same.values()),
        "max_abs_auc_difference": max(gaps) if gaps else None,
        "memory": {
            "heap_figure": heap,
            "classic_heap_peak_mib": (live["classic"] if live_ok else classic).get("heap_after_gc_peak_mib"),
            "connect_heap_peak_mib": (live["connect"] if live_ok else connect).get("heap_after_gc_peak_mib"),
            "classic_driver_peak_mib": classic.get("driver_peak_mib"),
            "connect_driver_peak_mib": connect.get("driver_peak_mib"),
            "classic_jvm_mib": mem["jvm_mib"], "classic_driver_python_mib": mem["driver_python_mib"],
            "classic_driver_python_start_mib": size.get("driver_python_start_mib"),
            "connect_server_jvm_mib": cmem["server_jvm_mib"], "connect_client_python_mib": cmem["client_python_mib"],
            "classic_python_workers_mib": mem["python_workers_mib"],
            "connect_server_python_workers_mib": cmem["server_python_workers_mib"],
            "stages_with_more_driver_heap_on_connect": above,
            "connect_driver_heap_not_above_classic": measured and not above,
            "stages_with_more_driver_python_on_connect": python_above,
            "heap_measure": heap_measure(live.get("probe_seconds") if live_ok else None),
            "heap_label": "live heap" if live_ok else "heap after GC",
            "note": "driver memory = the driver JVM's heap (spark.driver.memory; in local mode driver and executor at "
                    "once; classic: the in-process JVM, Connect: the server's): per stage the peak of heap_measure "
                    "within the stage or the last one before it, from the JVM's GC log. Beside it, PSS "
                    "sampled every 0.5 s: the driver's Python (classic: this benchmark's process, which holds "
                    "classic_driver_python_start_mib before the run; Connect: the client) and JVM + Python"},
    }


def heap_measure(probe_seconds: float | None) -> str:
    """What the per-stage driver heap figures are, given the full-GC probe's interval (None: no probe)."""
    if probe_seconds:
        return (f"live heap: the heap left by a full GC, forced every {probe_seconds:g} s in a second run of "
                "each kind (the timed runs go without)")
    return "heap after GC: the heap right after any GC pause (after a young one, old garbage included)"


def _stages_above(stages: dict[str, dict], figure: str) -> tuple[list[str], bool]:
    """The stages whose Connect ``figure`` is above the classic one, and whether every stage has both."""
    pairs = {name: (row[f"classic_{figure}"], row[f"connect_{figure}"]) for name, row in stages.items()}
    above = [name for name, (a, b) in pairs.items() if None not in (a, b) and b > a]
    return above, all(None not in pair for pair in pairs.values())


def targets(results: dict) -> dict:
    """The performance targets (bench/README.md), as measured (never asserted)."""
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
    for s in sizes:
        over = s.get("connect_overhead")
        if over:
            memory = over["memory"]
            out[f"{s['label']}_connect_driver_heap_not_above_classic"] = {
                "classic_mib": memory["classic_heap_peak_mib"], "connect_mib": memory["connect_heap_peak_mib"],
                "heap": memory["heap_figure"],
                "stages_above": ",".join(memory["stages_with_more_driver_heap_on_connect"]) or "none",
                "met": memory["connect_driver_heap_not_above_classic"]}
            out[f"{s['label']}_connect_results_identical"] = {
                "max_abs_auc_difference": over["max_abs_auc_difference"],
                "different": ",".join(k for k, same in over["identical"].items() if not same) or "none",
                "met": over["results_identical"]}
    one_m = next((s for s in sizes if s["emails_target"] == 1_000_000), None)
    if one_m:
        out["1M_pipeline_under_10_min"] = {"wall_seconds": one_m["spark"]["wall_seconds"],
                                           "met": one_m["spark"]["wall_seconds"] < 600}
        if one_m.get("comparison"):
            out["1M_at_least_2x_reference"] = {"speedup": one_m["comparison"]["speedup"],
                                               "met": one_m["comparison"]["speedup"] >= 2}
    if len(sizes) > 1:  # the two largest sizes (1M -> 5M in the scale targets): fixed costs weigh least there
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


def _count(value: float | None) -> str:
    return f"{int(value):,}" if value is not None else "?"


def _mib(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None else "—"


def _seconds_row(label: str, row: dict, memory: tuple[str, ...] = ("", "", "", "")) -> str:
    ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "—"
    cells = (*memory, *[""] * (4 - len(memory)))
    return (f"| {label} | {row['classic_seconds']:.1f} | {row['connect_seconds']:.1f} | {ratio} | "
            f"{row['difference_seconds']:+.1f} | " + " | ".join(cells) + " |")


def connect_markdown(size: dict) -> list[str]:
    """The section "Spark Connect against a classic session" of one size (empty without a Connect run)."""
    connect = size.get("connect")
    if not connect:
        return []
    lines = ["", f"### Spark Connect against a classic session ({size['label']})", ""]
    over = size.get("connect_overhead")
    if not over:
        tail = " | ".join(connect.get("server_log_tail", [])[-6:])
        return [*lines, f"Spark Connect run FAILED (exit code {connect.get('exit_code')}"
                        + (f": {connect['error']}" if "error" in connect else "")
                        + f"); server log {connect.get('server_log')}" + (f": {tail}" if tail else "") + "."]
    lines += ["Same pipeline, settings and seed in a fresh warehouse; Connect: a local Spark Connect server "
              "started with the classic session's settings, the client a separate Python process. Ratio = "
              "Connect / classic (above 1: Connect is slower); heap MiB = the driver JVM's peak "
              f"{over['memory']['heap_measure']} during the stage (from its GC log; classic: the in-process JVM, "
              "Connect: the server's), "
              "Python MiB = peak PSS of the driver's Python (classic: this benchmark's process; Connect: the "
              "client).", "",
              "| stage | classic s | Connect s | ratio | difference s | classic heap MiB | Connect heap MiB "
              "| classic Python MiB | Connect Python MiB |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in over["stages"].items():
        lines.append(_seconds_row(name, row, tuple(_mib(row[f"{side}_{figure}"])
                                                   for figure in (over["memory"]["heap_figure"],
                                                                  "driver_python_peak_mib")
                                                   for side in ("classic", "connect"))))
        lines += [_seconds_row(f"&nbsp;&nbsp;{name}: {label}", over["steps"][key])
                  for label, key in SUBSTEPS.get(name, []) if key in over["steps"]]
    memory = over["memory"]
    lines.append(_seconds_row("**all stages**", over["all_stages"], (_mib(memory["classic_heap_peak_mib"]),
                                                                     _mib(memory["connect_heap_peak_mib"]))))
    lines.append(_seconds_row("whole command (wall)", over["wall"]))
    same = over["identical"]
    gap = over["max_abs_auc_difference"]
    lines += ["", "Results " + ("identical" if over["results_identical"] else "DIFFERENT") + ": "
              + ", ".join(f"{k} {'same' if v else 'DIFFERENT'}" for k, v in same.items())
              + (f"; largest AUC difference {gap:.3g}" if gap is not None else "") + ".",
              f"Driver heap ({memory['heap_label']}), peak: classic "
              f"{_mib(memory['classic_heap_peak_mib'])} MiB, Connect "
              f"{_mib(memory['connect_heap_peak_mib'])} MiB: Connect not above classic in any stage: "
              + ("yes" if memory["connect_driver_heap_not_above_classic"] else "NO")
              + (f" (above in {', '.join(memory['stages_with_more_driver_heap_on_connect'])})"
                 if memory["stages_with_more_driver_heap_on_connect"] else "")
              + f". Peak PSS: classic JVM {_mib(memory['classic_jvm_mib'])} MiB + Python "
              f"{_mib(memory['classic_driver_python_mib'])} MiB ({_mib(memory['classic_driver_python_start_mib'])} "
              f"before the run) = {_mib(memory['classic_driver_peak_mib'])} MiB at most together; Connect server JVM "
              f"{_mib(memory['connect_server_jvm_mib'])} MiB + client Python "
              f"{_mib(memory['connect_client_python_mib'])} MiB = {_mib(memory['connect_driver_peak_mib'])} MiB"
              + f". Python workers: classic {_mib(memory['classic_python_workers_mib'])} MiB, Connect server "
              f"{_mib(memory['connect_server_python_workers_mib'])} MiB. The server started in "
              f"{connect.get('server_start_seconds', float('nan')):.1f} s (not in its wall time; the client's "
              "start-up is)."]
    return lines


def markdown(results: dict) -> str:
    """The results as Markdown: per size, the steps side by side, memory, AUCs and the SVD methods; the targets."""
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
        lines += connect_markdown(size)
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

