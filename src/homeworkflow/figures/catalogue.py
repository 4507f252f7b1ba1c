"""What the presentation stage makes for a run (figures, tables, review notebooks) and the input
functions its rules need, built once from the config.

rules/report.smk calls these through a `Presentation`, so the rule file itself defines no
functions (`snakemake --lint` wants functions kept apart from rules):

    PRESENTATION = Presentation.from_config(config)
    presentation_products = PRESENTATION.products      # every final path of a run
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from homeworkflow.config import model_settings

STUDY1_FIGURES = ("odds_ratios", "predicted_probability", "therapist_effects", "posterior_predictive")
STUDY2_FIGURES = ("session_distributions", "review_vs_change", "severity_slopes", "bayes_vs_gee", "naive_vs_corrected")
FIGURE_FORMATS = ("png", "pdf")
TABLE_FORMATS = ("csv", "md", "tex", "html")
NOTEBOOK_FORMATS = ("ipynb", "html")
STUDY1_TABLES = ("table1_study1", "table2_homework_odds_ratios")
STUDY2_TABLES = ("table1_study2", "table3_outcome_models", "table_study2_replication")
DIAGNOSTICS_TABLES = ("table_diagnostics",)
STUDY1_NOTEBOOK = "01_study1_review"
STUDY2_NOTEBOOK = "02_study2_review"


@dataclass(frozen=True)
class Presentation:
    """The models a run presents: all of them (rank plots, diagnostics), the Study 1 homework model
    (None without one: no Study 1 model figures) and each Study 2 outcome's model."""

    models: tuple[str, ...]
    study1_model: str | None
    outcome_models: dict[str, str]
    settings: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict) -> Presentation:
        models = tuple(config["models"])
        study1 = next(
            (
                m
                for m in models
                if config["models"][m].get("data") == "study1/sessions"
                and config["models"][m].get("family", "bernoulli") == "bernoulli"
            ),
            None,
        )
        return cls(
            models=models,
            study1_model=study1,
            outcome_models=dict(config["study2"]["outcome_models"]),
            settings={m: model_settings(config, m) for m in models},
        )

    @property
    def outcomes(self) -> list[str]:
        return list(self.outcome_models)

    def products(self, run: str) -> list[str]:
        """Every final figure (PNG, PDF), table (CSV, Markdown, LaTeX, HTML) and executed review
        notebook (.ipynb, .html) of `run`."""
        base = f"results/{run}"
        figures = [f"study2/{name}" for name in STUDY2_FIGURES]
        figures += [f"diagnostics/rank_{model}" for model in self.models]
        tables = [*STUDY2_TABLES, *DIAGNOSTICS_TABLES]
        notebooks = [STUDY2_NOTEBOOK]
        if self.study1_model:
            figures = [f"study1/{name}" for name in STUDY1_FIGURES] + figures
            tables = [*STUDY1_TABLES, *tables]
            notebooks.insert(0, STUDY1_NOTEBOOK)
        return [
            *(f"{base}/figures/{f}.{ext}" for f in figures for ext in FIGURE_FORMATS),
            *(f"{base}/tables/{t}.{ext}" for t in tables for ext in TABLE_FORMATS),
            *(f"{base}/notebooks/{n}.{ext}" for n in notebooks for ext in NOTEBOOK_FORMATS),
        ]

    # ------------------------------------------------------------------- input functions

    def study1_model_file(self, name: str) -> Callable:
        """Input function: a file of the Study 1 homework model."""

        def path(wildcards) -> str:
            return f"results/{wildcards.run}/models/{self.study1_model}/{name}"

        return path

    def outcome_model_files(self, name: str) -> Callable:
        """Input function: a file of each outcome's Bayesian model, in `outcomes` order."""

        def paths(wildcards) -> list[str]:
            return [f"results/{wildcards.run}/models/{self.outcome_models[o]}/{name}" for o in self.outcomes]

        return paths

    def rank_plots(self, models: Sequence[str | None]) -> Callable:
        """Input function: the rank-plot PNGs of `models` (each once)."""
        unique = [m for m in dict.fromkeys(models) if m]

        def paths(wildcards) -> list[str]:
            return [f"results/{wildcards.run}/figures/diagnostics/rank_{m}.png" for m in unique]

        return paths

    def notebook_parameters(self, models: Sequence[str | None]) -> Callable:
        """Params function: a review notebook's papermill parameters (run name and the settings of
        the models it reviews, priors included)."""
        unique = [m for m in dict.fromkeys(models) if m]

        def parameters(wildcards) -> dict:
            return {"run": wildcards.run, "models": {m: self.settings[m] for m in unique}}

        return parameters
