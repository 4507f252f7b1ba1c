"""Publication tables: each one built from the workflow's result files and written as CSV (numbers,
for reuse), Markdown, LaTeX (booktabs) and HTML (formatted, for reading).

    table = odds_ratio_table(odds_ratios, summary, variance_partition, reference_levels)  # Table 2
    write_table_formats(table, "results/default/tables/table2_homework_odds_ratios")

Builders: `odds_ratio_table` (Table 2), `outcome_models_table` (Table 3), `replication_table`,
`diagnostics_table`, `table1` (per study). Estimates are rounded to about three significant
digits of the row's largest value, intervals to the same decimals as their estimate.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from homeworkflow.presentation.labels import OUTCOME_LABELS, VARIABLE_LABELS, term_label, term_rows, variable_label
from homeworkflow.util.io import atomic_path, write_table

FORMATS = ("csv", "md", "tex", "html")


@dataclass(frozen=True)
class PublicationTable:
    """A table in two forms: `data` (numbers, one column per quantity, for the CSV) and `display`
    (formatted text, for Markdown, LaTeX and HTML). `indent[i]` indents display row i (a level
    under its header); `header[i]` marks a section or variable header row (shown bold)."""

    name: str
    title: str
    data: pd.DataFrame
    display: pd.DataFrame
    note: str = ""
    indent: tuple[bool, ...] = field(default=())
    header: tuple[bool, ...] = field(default=())

    def __post_init__(self):
        n = len(self.display)
        object.__setattr__(self, "indent", tuple(self.indent) or (False,) * n)
        object.__setattr__(self, "header", tuple(self.header) or (False,) * n)
        if len(self.indent) != n or len(self.header) != n:
            raise ValueError(f"table {self.name}: indent/header must have one entry per display row ({n})")


# ------------------------------------------------------------------------------ formatting


def decimals_for(*values: float) -> int:
    """Decimals that give about three significant digits of the largest |value| (2 to 6)."""
    finite = [abs(v) for v in values if v is not None and np.isfinite(v) and v != 0]
    if not finite:
        return 2
    return int(min(max(2 - math.floor(math.log10(max(finite))), 2), 6))


def fmt_interval(estimate: float, low: float, high: float) -> str:
    """'2.81 [1.56, 4.73]': estimate and interval with the same decimals."""
    d = decimals_for(estimate, low, high)
    return f"{estimate:.{d}f} [{low:.{d}f}, {high:.{d}f}]"


def fmt_p(p: float) -> str:
    """p-values as usually reported: '<.001', '.045', '.95'."""
    if p is None or pd.isna(p):
        return ""
    if p < 0.001:
        return "<.001"
    text = f"{p:.3f}" if p < 0.1 else f"{p:.2f}"
    return text.removeprefix("0")


def fmt_probability(p: float) -> str:
    if p is None or pd.isna(p):
        return ""
    if p > 0.999:
        return ">.999"
    if p < 0.001:
        return "<.001"
    return f"{p:.3f}".removeprefix("0")


# ------------------------------------------------------------------------------- rendering


def render_markdown(table: PublicationTable) -> str:
    shown = _styled_cells(table, bold=lambda s: f"**{s}**" if s else s, indent="&nbsp;&nbsp;&nbsp;&nbsp;")
    text = f"**{table.title}**\n\n" + shown.to_markdown(index=False)
    return text + (f"\n\n{table.note}" if table.note else "") + "\n"


def render_latex(table: PublicationTable) -> str:
    escaped = table.display.map(latex_escape)
    escaped.columns = [latex_escape(str(c)) for c in escaped.columns]
    shown = _styled_cells(
        PublicationTable(table.name, table.title, table.data, escaped, table.note, table.indent, table.header),
        bold=lambda s: f"\\textbf{{{s}}}" if s else s,
        indent="\\quad ",
    )
    column_format = "l" * _n_label_columns(table.display) + "r" * (shown.shape[1] - _n_label_columns(table.display))
    latex = shown.style.hide(axis="index").to_latex(
        column_format=column_format,
        hrules=True,
        caption=latex_escape(table.title),
        label=f"tab:{table.name}",
        position_float="centering",
        position="htbp",
    )
    if table.note:
        latex = latex.replace("\\end{table}", f"\\par\\footnotesize {latex_escape(table.note)}\n\\end{{table}}")
    return latex


def render_html(table: PublicationTable) -> str:
    """A complete, self-contained HTML page holding the table (readable on its own and in the
    Snakemake report)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.display.columns)
    label_columns = _n_label_columns(table.display)
    rows = []
    for i, values in enumerate(table.display.itertuples(index=False)):
        classes = " ".join(c for c, on in (("header", table.header[i]), ("indent", table.indent[i])) if on)
        cells = "".join(
            f'<td class="{"label" if j < label_columns else "num"}">{html.escape(str(v))}</td>'
            for j, v in enumerate(values)
        )
        rows.append(f'<tr class="{classes}">{cells}</tr>' if classes else f"<tr>{cells}</tr>")
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(table.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<table>\n<caption>{html.escape(table.title)}</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + f"\n</tbody>\n</table>\n{note}\n</body>\n</html>\n"
    )


_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:14px;"
    "margin:1em;color:#222}table{border-collapse:collapse}caption{text-align:left;font-weight:600;"
    "padding-bottom:.5em}thead th{border-top:2px solid #222;border-bottom:1px solid #222;text-align:left;"
    "padding:.3em .8em}tbody tr:last-child td{border-bottom:2px solid #222}td{padding:.2em .8em;"
    "vertical-align:top}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "tr.header td{font-weight:600;padding-top:.5em}tr.indent td:first-child{padding-left:2em}"
    ".note{font-size:12px;color:#555;max-width:60em}"
)

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def latex_escape(text: object) -> str:
    return re.sub(r"[\\&%$#_{}~^<>]", lambda m: _LATEX_SPECIAL[m.group()], str(text))


def _n_label_columns(display: pd.DataFrame) -> int:
    """Leading text columns (left-aligned); the rest are numbers (right-aligned)."""
    numeric = re.compile(r"^[\s<>=.\-\d\[\],%()]*$")
    count = 0
    for column in display.columns:
        values = display[column].astype(str)
        if values.map(lambda v: bool(numeric.match(v))).all() and values.str.strip().ne("").any():
            break
        count += 1
    return max(count, 1)


def _styled_cells(table: PublicationTable, bold, indent: str) -> pd.DataFrame:
    shown = table.display.copy().astype(str)
    first = shown.columns[0]
    for i in range(len(shown)):
        if table.header[i]:
            shown.iloc[i] = [bold(v) for v in shown.iloc[i]]
        if table.indent[i]:
            shown.iloc[i, shown.columns.get_loc(first)] = indent + shown.iloc[i][first]
    return shown


def write_table_formats(table: PublicationTable, stem: str | Path) -> list[Path]:
    """Write `<stem>.csv`, `.md`, `.tex` and `.html` (each atomically); return their paths."""
    stem = Path(stem)
    if stem.suffix.lower() in tuple(f".{f}" for f in FORMATS):
        stem = stem.with_suffix("")
    paths = {fmt: stem.with_name(f"{stem.name}.{fmt}") for fmt in FORMATS}
    write_table(table.data, paths["csv"])
    write_table(render_markdown(table), paths["md"])
    for fmt, render in (("tex", render_latex), ("html", render_html)):
        with atomic_path(paths[fmt]) as tmp:
            tmp.write_text(render(table), encoding="utf-8")
    return list(paths.values())


# ------------------------------------------------------------------- Table 2: homework model


def odds_ratio_table(
    odds_ratios: pd.DataFrame,
    summary: pd.DataFrame,
    variance_partition: pd.DataFrame | None = None,
    reference_levels: Mapping[str, object] | None = None,
    name: str = "table2_homework_odds_ratios",
) -> PublicationTable:
    """Table 2: odds ratios of homework (posterior mean, 95% CrI, P(OR > 1)) in the formula's
    order with readable labels, then the between-therapist and between-client SDs and ICCs."""
    ors = odds_ratios.set_index("term")
    data_rows, shown, indent, header = [], [], [], []
    for row in term_rows(ors.index, reference_levels):
        term = row["term"]
        if term is None:
            shown.append([row["label"], "", ""])
            indent.append(False)
            header.append(True)
            continue
        r = ors.loc[term]
        data_rows.append(
            {
                "section": "Odds ratios",
                "term": term,
                "label": row["label"],
                "estimate": r["or_mean"],
                "ci_low": r["or_q2.5"],
                "ci_high": r["or_q97.5"],
                "prob_or_gt_1": r["prob_or_gt_1"],
            }
        )
        shown.append([row["short"].strip(), fmt_interval(r["or_mean"], r["or_q2.5"], r["or_q97.5"]),
                      fmt_probability(r["prob_or_gt_1"])])
        indent.append(row["short"] != row["short"].strip())
        header.append(False)

    sds = summary[summary["term"].str.startswith("sd(")]
    icc = pd.DataFrame(columns=["group", "measure", "mean", "q2.5", "q97.5"]) if variance_partition is None else variance_partition
    if len(sds):
        shown.append(["Random effects", "", ""])
        indent.append(False)
        header.append(True)
    for _, r in sds.iterrows():
        label = f"{term_label(r['term'])} (log-odds)"
        data_rows.append({"section": "Random effects", "term": r["term"], "label": label, "estimate": r["mean"],
                          "ci_low": r["q2.5"], "ci_high": r["q97.5"], "prob_or_gt_1": np.nan})
        shown.append([label, fmt_interval(r["mean"], r["q2.5"], r["q97.5"]), ""])
        indent.append(True)
        header.append(False)
        group = r["term"][3:-1]
        part = icc[(icc["group"] == group) & (icc["measure"] == "icc")]
        if len(part):
            p = part.iloc[0]
            label = f"ICC, {group.removesuffix('_id').replace('_', ' ')}"
            data_rows.append({"section": "Random effects", "term": f"icc({group})", "label": label,
                              "estimate": p["mean"], "ci_low": p["q2.5"], "ci_high": p["q97.5"],
                              "prob_or_gt_1": np.nan})
            shown.append([label, fmt_interval(p["mean"], p["q2.5"], p["q97.5"]), ""])
            indent.append(True)
            header.append(False)
    data = _rounded(pd.DataFrame(data_rows), ["estimate", "ci_low", "ci_high", "prob_or_gt_1"], 4)
    display = pd.DataFrame(shown, columns=["Predictor", "OR (95% CrI)", "P(OR > 1)"])
    return PublicationTable(
        name,
        "Table 2. Odds of homework in a session: Bayesian multilevel logistic regression",
        data,
        display,
        note=(
            "OR: posterior mean odds ratio with 95% equal-tailed credible interval; P(OR > 1): "
            "posterior probability of higher odds. Numeric predictors per unit (child age per year), "
            "categorical predictors against the reference level named in the header. Random effects: "
            "SDs of the therapist and client intercepts (log-odds) and intraclass correlations."
        ),
        indent=tuple(indent),
        header=tuple(header),
    )


def _rounded(df: pd.DataFrame, columns: Sequence[str], digits: int) -> pd.DataFrame:
    df = df.copy()
    for column in columns:
        if column in df:
            df[column] = df[column].astype(float).round(digits)
    return df


# --------------------------------------------------------------- Table 3: outcome models


def outcome_models_table(comparisons: Mapping[str, pd.DataFrame], name: str = "table3_outcome_models") -> PublicationTable:
    """Table 3: each outcome model's terms, Bayesian multilevel estimate (95% CrI) beside the
    GEE estimate (95% CI, p), from study2/<outcome>/bayes_vs_gee.csv."""
    data_rows, shown, indent, header = [], [], [], []
    for outcome, table in comparisons.items():
        shown.append([OUTCOME_LABELS.get(outcome, outcome), "", "", ""])
        indent.append(False)
        header.append(True)
        bayes = table[table["method"].str.lower().str.startswith("bayes")].set_index("term")
        gee = table[table["method"].str.startswith("GEE")].set_index("term")
        for term in dict.fromkeys(table["term"]):
            b = bayes.loc[term] if term in bayes.index else None
            g = gee.loc[term] if term in gee.index else None
            data_rows.append(
                {
                    "outcome": outcome,
                    "term": term,
                    "bayes_estimate": np.nan if b is None else b["estimate"],
                    "bayes_ci_low": np.nan if b is None else b["ci_low"],
                    "bayes_ci_high": np.nan if b is None else b["ci_high"],
                    "gee_estimate": np.nan if g is None else g["estimate"],
                    "gee_ci_low": np.nan if g is None else g["ci_low"],
                    "gee_ci_high": np.nan if g is None else g["ci_high"],
                    "gee_p_value": np.nan if g is None else g["p_value"],
                }
            )
            shown.append(
                [
                    term_label(term),
                    "" if b is None else fmt_interval(b["estimate"], b["ci_low"], b["ci_high"]),
                    "" if g is None else fmt_interval(g["estimate"], g["ci_low"], g["ci_high"]),
                    "" if g is None else fmt_p(g["p_value"]),
                ]
            )
            indent.append(True)
            header.append(False)
    data = pd.DataFrame(data_rows)
    data = _rounded(data, [c for c in data.columns if c.startswith(("bayes_", "gee_")) and c != "gee_p_value"], 6)
    display = pd.DataFrame(shown, columns=["Term", "Bayesian multilevel (95% CrI)", "GEE (95% CI)", "GEE p"])
    return PublicationTable(
        name,
        "Table 3. Symptom change and review of action recommendations: Bayesian multilevel model and GEE",
        data,
        display,
        note=(
            "Outcome: change in score from one assessment to the next (negative = improvement). "
            "Bayesian: posterior mean and 95% credible interval, random intercepts for organisation, "
            "therapist and client. GEE: exchangeable working correlation within client, robust "
            "standard errors. Baseline score centred; review percentage per percentage point."
        ),
        indent=tuple(indent),
        header=tuple(header),
    )


# ------------------------------------------------------------------ descriptive replication

REPLICATION_LABELS = {
    "n_sessions": ("Sessions", 0),
    "share_sessions_with_ar": ("Sessions with at least one AR", "pct"),
    "mean_ar_per_session": ("ARs per session, mean", 2),
    "sd_ar_per_session": ("ARs per session, SD", 2),
    "min_ar": ("ARs per session, minimum", 0),
    "max_ar": ("ARs per session, maximum", 0),
    "share_sessions_with_review": ("Sessions with any review", "pct"),
    "review_percentage_mean": ("Review percentage, mean", 2),
    "review_percentage_q25": ("Review percentage, 25th percentile", 2),
    "review_percentage_median": ("Review percentage, median", 2),
    "review_percentage_q75": ("Review percentage, 75th percentile", 2),
}


def replication_table(replication: pd.DataFrame, name: str = "table_study2_replication") -> PublicationTable:
    """The published Study 2 descriptives beside ours (overall only; per-organisation rows stay in
    study2/replication.csv)."""
    overall = replication[replication["scope"] == "overall"].set_index("statistic")
    data_rows, shown = [], []
    shares = [s for s in overall.index if re.fullmatch(r"share_ar_\d+(plus)?", s)]
    for statistic in [*REPLICATION_LABELS, *shares]:
        if statistic not in overall.index:
            continue
        value = float(overall.loc[statistic, "value"])
        published = overall.loc[statistic, "published"]
        published = "" if pd.isna(published) else str(published)
        if statistic in REPLICATION_LABELS:
            label, digits = REPLICATION_LABELS[statistic]
        else:
            k = statistic.removeprefix("share_ar_")
            label, digits = (f"Sessions with {k.replace('plus', '+')} AR{'' if k == '1' else 's'}", "pct")
        text = f"{value:.1%}" if digits == "pct" else f"{value:,.{digits}f}"
        data_rows.append({"statistic": statistic, "label": label, "value": round(value, 4), "published": published})
        shown.append([label, text, published])
    return PublicationTable(
        name,
        "Study 2: descriptives of action recommendations (AR) and review, ours beside the published values",
        pd.DataFrame(data_rows),
        pd.DataFrame(shown, columns=["Statistic", "This run", "Published"]),
        note="Published: Spinrad et al. (2024); blank where the paper reports no value.",
    )


# -------------------------------------------------------------------------- diagnostics


def diagnostics_table(diagnostics: Mapping[str, Mapping], name: str = "table_diagnostics") -> PublicationTable:
    """Convergence of every model: sampler settings, max R-hat, min bulk and tail ESS,
    divergences, and whether the configured gate passed (with the reasons if not)."""
    data_rows, shown = [], []
    for model, d in diagnostics.items():
        gate = d.get("gate", {})
        failures = "; ".join(d.get("gate_failures", []))
        row = {
            "model": model,
            "family": d.get("family"),
            "n_obs": d.get("n_obs"),
            "sampler": d.get("sampler"),
            "chains": d.get("chains"),
            "draws": d.get("draws"),
            "max_rhat": round(float(d["max_rhat"]), 4),
            "min_ess_bulk": round(float(d["min_ess_bulk"])),
            "min_ess_tail": round(float(d["min_ess_tail"])),
            "divergences": int(d["divergences"]),
            "gate_max_rhat": gate.get("max_rhat"),
            "gate_min_ess": gate.get("min_ess"),
            "gate_passed": bool(d["gate_passed"]),
            "gate_failures": failures,
        }
        data_rows.append(row)
        shown.append(
            [
                model,
                f"{row['chains']} x {row['draws']}",
                f"{row['max_rhat']:.3f}",
                f"{row['min_ess_bulk']:,}",
                f"{row['min_ess_tail']:,}",
                str(row["divergences"]),
                "yes" if row["gate_passed"] else f"no ({failures})",
            ]
        )
    display = pd.DataFrame(
        shown,
        columns=["Model", "Chains x draws", "Max R-hat", "Min ESS bulk", "Min ESS tail", "Divergences", "Gate passed"],
    )
    gates = {(d.get("gate", {}).get("max_rhat"), d.get("gate", {}).get("min_ess")) for d in diagnostics.values()}
    note = "Convergence over every saved parameter (population terms, SDs and group effects)."
    if len(gates) == 1:
        max_rhat, min_ess = gates.pop()
        note += f" Gate: R-hat <= {max_rhat}, ESS >= {min_ess}, no divergent transitions."
    return PublicationTable(name, "Convergence diagnostics of every model", pd.DataFrame(data_rows), display, note=note)


# ------------------------------------------------------------------------------- Table 1


def table1(table: pd.DataFrame, study: str, name: str | None = None) -> PublicationTable:
    """Table 1 of a study from study<N>/table1.csv (level, variable, statistic, value), one
    section per level (sessions, clients, therapists, ...); small counts stay suppressed."""
    shown, indent, header = [], [], []
    for level, part in table.groupby("level", sort=False):
        n = part[(part["variable"] == "n") & (part["statistic"] == "n")]
        title = f"{str(level).capitalize()}" + (f" (n = {n['value'].iloc[0]})" if len(n) else "")
        shown.append([title, "", ""])
        indent.append(False)
        header.append(True)
        for _, r in part[~((part["variable"] == "n") & (part["statistic"] == "n"))].iterrows():
            shown.append([_table1_label(str(r["variable"])), str(r["statistic"]), str(r["value"])])
            indent.append(True)
            header.append(False)
    number = study.removeprefix("study")
    return PublicationTable(
        name or f"table1_{study}",
        f"Table 1. Study {number}: sample characteristics",
        table.copy(),
        pd.DataFrame(shown, columns=["Characteristic", "Statistic", "Value"]),
        note="Counts below the configured minimum cell size are shown as <N.",
        indent=tuple(indent),
        header=tuple(header),
    )


TABLE1_LABELS = {
    "n_units": "Dialogue units",
    "ar_count": "Action recommendations (detected)",
    "any_ar": "Any action recommendation (detected)",
    "review_units": "Review units (detected)",
    "review_percentage": "Review percentage (detected)",
    "any_review": "Any review (detected)",
    "ar_true": "Action recommendations (true; simulation)",
    "any_ar_true": "Any action recommendation (true; simulation)",
    "review_units_true": "Review units (true; simulation)",
    "review_percentage_true": "Review percentage (true; simulation)",
    "any_review_true": "Any review (true; simulation)",
    "homework": "Homework assigned or reviewed",
}
SCORES = {"phq9": "PHQ-9", "gad7": "GAD-7"}


def _table1_label(variable: str) -> str:
    """"child_age" -> "Child age"; "ebp: CPP" -> "EBP: CPP"; "phq9 at first assessment" ->
    "PHQ-9 at first assessment" (units dropped: the statistic column gives them)."""
    name, _, level = variable.partition(": ")
    if name in TABLE1_LABELS:
        label = TABLE1_LABELS[name]
    elif name in VARIABLE_LABELS:
        label = re.sub(r" \([^)]*\)$", "", variable_label(name))
    else:
        label = re.sub(r"\b(phq9|gad7)\b", lambda m: SCORES[m.group()], name.replace("_", " "))
    label = label[:1].upper() + label[1:]
    return f"{label}: {level}" if level else label
