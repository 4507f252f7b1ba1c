"""Out-of-fold comparison of the transcript detectors on all of AnnoMI (`make bench-transcripts`).

5-fold cross-validation grouped by transcript, repeated over fold seeds, for the rules, TF-IDF
and the fine-tuned encoder; the annotators' ceiling computed the same way; the review detector on
our labelled review set; per-session AR errors. Writes under bench/results/:

- transcripts_oof_<target>_seed<n>.csv: out-of-fold predictions (transcript_id, utterance_id,
  fold, seed, detector, score, predicted, label); the run resumes from them per (seed, fold,
  detector), and seeds can run in parallel processes;
- transcripts_fit_times_<target>_seed<n>.csv: seconds per fit;
- transcripts_cv.json / transcripts_cv.md: the tables; transcripts_pr.png: precision-recall curves.

    .venv/bin/python bench/bench_transcripts.py --encode-only      # once: the frozen-layer cache
    .venv/bin/python bench/bench_transcripts.py [--seeds 0 1 2] [--targets review] [--stop-at 2026-12-07T05:00]
    .venv/bin/python bench/bench_transcripts.py --summarise-only
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import average_precision_score  # noqa: E402

from homeworkflow.transcripts import crossval  # noqa: E402
from homeworkflow.transcripts.annomi import annomi_utterances, load_annomi, load_review_labels  # noqa: E402
from homeworkflow.transcripts.detectors import RuleBasedDetector, TrainedDetector  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path(__file__).resolve().parents[1] / "results" / "bench_transcripts" / "frozen_cache.pt"


def detectors(target: str) -> dict:
    from homeworkflow.transcripts.encoder import EncoderDetector

    return {
        "rules": lambda seed: RuleBasedDetector(target),
        "tfidf_logreg": lambda seed: TrainedDetector(target),
        "encoder": lambda seed: EncoderDetector(target, seed=seed),
    }


def encode_all() -> None:
    """Encode every AnnoMI therapist utterance once (frozen layers) and save the cache."""
    from homeworkflow.transcripts import encoder

    CACHE.parent.mkdir(parents=True, exist_ok=True)
    utterances = annomi_utterances(load_annomi(), load_review_labels())
    started = time.perf_counter()
    counts = encoder.EncoderDetector("action_recommendation").encode(utterances)
    encoder.save_cache(CACHE)
    logging.info("encoded in %.0f s: %s", time.perf_counter() - started, counts)


def run(seeds, stop_at: float | None, targets) -> None:
    from homeworkflow.transcripts import encoder

    if CACHE.exists():
        logging.info("frozen-layer cache: %d entries", encoder.load_cache(CACHE))
    utterances = annomi_utterances(load_annomi(), load_review_labels())
    for target in targets:
        for seed in seeds:  # one file per target and seed, so seeds can run in parallel processes
            times: list = []
            path = RESULTS / f"transcripts_oof_{target}_seed{seed}.csv"
            crossval.out_of_fold(
                utterances, target, detectors(target), seeds=(seed,), path=path, fit_times=times, stop_at=stop_at
            )
            _append_times(times, target, seed)


def _append_times(times: list, target: str, seed: int) -> None:
    if not times:
        return
    path = RESULTS / f"transcripts_fit_times_{target}_seed{seed}.csv"
    new = pd.DataFrame(times).assign(target=target, threads=1, finished=datetime.now(timezone.utc).isoformat())
    table = pd.concat([pd.read_csv(path), new]) if path.exists() else new
    table.to_csv(path, index=False)


def summarise(n_boot: int) -> None:
    annomi = load_annomi()
    utterances = annomi_utterances(annomi, load_review_labels())
    key = utterances["session_id"] + "/" + utterances["utterance_order"].astype(str)
    repeated = pd.Series(crossval.repeated_text(utterances), index=key)
    tables, oof = {}, []
    for target in ("action_recommendation", "review"):
        paths = sorted(RESULTS.glob(f"transcripts_oof_{target}_seed*.csv"))
        if not paths:
            continue
        predictions = pd.concat(map(crossval.read_predictions, paths), ignore_index=True)
        if target == "action_recommendation":
            predictions = pd.concat([predictions, crossval.ceiling_predictions(annomi)], ignore_index=True)
        summary = crossval.summarise(predictions, repeated, n_boot=n_boot)
        sessions = crossval.session_summary(predictions[predictions["seed"] >= 0], utterances)
        trained = predictions[predictions["detector"].isin(["tfidf_logreg", "encoder"])]
        tables_extra = _mean_of_two(trained)
        errors = crossval.error_analysis(trained, utterances)
        errors = errors.groupby(["detector", "grouping", "group"], sort=False).median(numeric_only=True)
        tables[target] = {
            "utterances": summary,
            "median": crossval.median_over_seeds(summary),
            "sessions": sessions,
            "errors": errors.drop(columns="seed").reset_index(),
            "mean_of_two": tables_extra,
        }
        oof.append(predictions.assign(target=target))
        if target == "action_recommendation":
            _figure(predictions, RESULTS / "transcripts_pr.png")
    (RESULTS / "transcripts_cv.json").write_text(
        json.dumps({t: {k: v.to_dict("records") for k, v in d.items()} for t, d in tables.items()}, indent=1)
    )
    (RESULTS / "transcripts_cv.md").write_text(_markdown(tables))
    print(_markdown(tables))


def _mean_of_two(trained: pd.DataFrame) -> pd.DataFrame:
    """Exploratory, chosen after the first folds: the mean of the encoder's and TF-IDF's scores
    (both trained on the same folds), as AP and precision at recall 0.5 per seed."""
    wide = trained.pivot_table(
        index=["seed", "fold", "transcript_id", "utterance_id", "label"], columns="detector", values="score"
    ).dropna()
    rows = []
    for seed, block in wide.reset_index().groupby("seed"):
        y = block["label"].to_numpy()
        for name, score in (
            ("tfidf_logreg", block["tfidf_logreg"]),
            ("encoder", block["encoder"]),
            ("mean of the two", (block["tfidf_logreg"] + block["encoder"]) / 2),
        ):
            rows.append(
                {
                    "seed": seed,
                    "scores": name,
                    "ap": average_precision_score(y, score),
                    "p_at_r50": crossval.precision_at_recall(y, score),
                }
            )
    return pd.DataFrame(rows)


def _fmt(row, name) -> str:
    return f"{row[name]:.2f} [{row[name + '_low']:.2f}, {row[name + '_high']:.2f}]"


def _markdown(tables: dict) -> str:
    lines = []
    times = sorted(RESULTS.glob("transcripts_fit_times_*.csv"))
    for target, t in tables.items():
        lines += [f"## {target}: per therapist utterance, out of fold", ""]
        lines += [
            "| detector | seed | subset | n | positives | precision | recall | F1 | AP | precision at recall 0.5 |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for _, r in t["utterances"].iterrows():
            seed = "-" if r["seed"] < 0 else str(r["seed"])
            lines.append(
                f"| {r['detector']} | {seed} | {r['subset']} | {r['n_evaluated']} | {r['n_positive']} | "
                f"{_fmt(r, 'precision')} | {_fmt(r, 'recall')} | {_fmt(r, 'f1')} | {_fmt(r, 'ap')} | "
                f"{_fmt(r, 'p_at_r50')} |"
            )
        lines += ["", f"### {target}: median over fold seeds", "", t["median"].round(3).to_markdown(index=False), ""]
        lines += [f"### {target}: per session", "", t["sessions"].round(3).to_markdown(index=False), ""]
        lines += [
            f"### {target}: exploratory, the mean of the encoder's and TF-IDF's scores",
            "",
            t["mean_of_two"].round(3).to_markdown(index=False),
            "",
        ]
        lines += [
            f"### {target}: errors at the threshold reaching recall 0.5 (median over seeds)",
            "",
            t["errors"].round(3).to_markdown(index=False),
            "",
        ]
    if times:
        fit = pd.concat(map(pd.read_csv, times)).groupby(["target", "detector"])["fit_seconds"].describe()[["count", "mean", "max"]]
        lines += ["## Seconds per fit (1 thread, busy 2-core machine)", "", fit.round(1).to_markdown(), ""]
    return "\n".join(lines)


def _figure(predictions: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    fig, ax = plt.subplots(figsize=(6, 5))
    colours = {"rules": "tab:grey", "tfidf_logreg": "tab:blue", "encoder": "tab:red", "ceiling_vote_share": "k"}
    for (detector, seed), block in predictions.groupby(["detector", "seed"]):
        if detector == "ceiling_one_annotator":
            p = (block["predicted"] & block["label"]).sum() / block["predicted"].sum()
            r = (block["predicted"] & block["label"]).sum() / block["label"].sum()
            ax.plot(r, p, "k*", ms=12, label="one annotator vs the others' majority")
            continue
        precision, recall, _ = precision_recall_curve(block["label"], block["score"])
        label = detector if seed <= 0 else None
        style = "--" if detector.startswith("ceiling") else "-"
        ax.plot(recall, precision, style, color=colours.get(detector, "tab:green"), lw=1, label=label)
    ax.axvline(0.5, color="0.8", lw=0.8)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1))
    ax.set_title("Action recommendations on AnnoMI, out of fold\n(one line per fold seed; dashed: annotators)")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--stop-at", help="UTC time (ISO) after which no new fit starts")
    parser.add_argument("--targets", nargs="+", default=["action_recommendation", "review"])
    parser.add_argument("--encode-only", action="store_true", help="fill the frozen-layer cache and stop")
    parser.add_argument("--summarise-only", action="store_true")
    parser.add_argument("--no-summary", action="store_true", help="only the fits (for parallel seeds)")
    parser.add_argument("--n-boot", type=int, default=300)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.encode_only:
        encode_all()
        return
    if not args.summarise_only:
        stop_at = datetime.fromisoformat(args.stop_at).replace(tzinfo=timezone.utc).timestamp() if args.stop_at else None
        run(args.seeds, stop_at, args.targets)
    if not args.no_summary:
        summarise(args.n_boot)


if __name__ == "__main__":
    np.seterr(all="ignore")
    t0 = time.time()
    main()
    print(f"done in {time.time() - t0:.0f} s")
