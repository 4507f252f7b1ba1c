"""What the review notebooks show of a run: its tables, figures and model settings, aggregates only.

    review = Review.of_run("default", models)   # results/default/ under the working directory
    review.table("table2_homework_odds_ratios")  # displayed as rendered for the report
    review.figure("study1/odds_ratios.png")
    review.model("homework")                     # formula, data size, sampler, priors

Every method reads files the workflow wrote under results/<run>/; none reads row-level data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from homeworkflow.models.spec.priors import default_priors, parse_priors


def find_root(start: Path | None = None) -> Path:
    """The workflow's directory: the first of `start` (default: here) and its parents that holds a
    Snakefile."""
    here = (start or Path.cwd()).resolve()
    for path in (here, *here.parents):
        if (path / "Snakefile").exists():
            return path
    raise FileNotFoundError(f"no Snakefile in {here} or its parents; pass root= explicitly")


@dataclass
class Review:
    """One run's results directory and the settings of the models it reviews."""

    results: Path
    models: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def of_run(cls, run: str, models: dict | None = None, root: str | Path | None = None, names=()) -> Review:
        """`models` None: read the settings of `names` from <root>/config/config.yaml."""
        root = Path(root) if root else find_root()
        if models is None:
            import yaml

            from homeworkflow.util.config import model_settings

            config = yaml.safe_load((root / "config" / "config.yaml").read_text())
            models = {name: model_settings(config, name) for name in names if name in config["models"]}
        results = root / "results" / run
        if not results.is_dir():
            raise FileNotFoundError(f"{results} does not exist: run the workflow with run={run} first")
        return cls(results, dict(models))

    def table(self, name: str):
        """A publication table, as rendered for the report (its Markdown form)."""
        from IPython.display import Markdown, display

        display(Markdown((self.results / "tables" / f"{name}.md").read_text(encoding="utf-8")))

    def figure(self, path: str, width: int = 800):
        from IPython.display import Image, display

        display(Image(filename=str(self.results / "figures" / path), width=width))

    def csv(self, path: str) -> pd.DataFrame:
        """An aggregate table of the run (e.g. study1/flow.csv)."""
        return pd.read_csv(self.results / path)

    def diagnostics(self, model: str) -> dict:
        return json.loads((self.results / "models" / model / "diagnostics.json").read_text())

    def priors(self, model: str) -> pd.DataFrame:
        """Every prior of the model: the family's defaults with the configured overrides."""
        family = self.diagnostics(model)["family"]
        priors = {**default_priors(family), **parse_priors(self.models.get(model, {}).get("priors"))}
        return pd.DataFrame({"parameter": list(priors), "prior (standardised scale)": [str(p) for p in priors.values()]})

    def model(self, model: str) -> dict:
        """Show the model's formula, data size, sampler settings and priors; return its diagnostics."""
        from IPython.display import Markdown, display

        diag = self.diagnostics(model)
        groups = ", ".join(f"{factor} {n}" for factor, n in diag["n_levels"].items())
        display(
            Markdown(
                f"**{model}** ({diag['family']}): `{diag['formula']}`  \n"
                f"{diag['n_obs']} observations; groups: {groups}  \n"
                f"Sampler {diag['sampler']}: {diag['chains']} chains x {diag['draws']} draws "
                f"(tune {diag['tune']}, target_accept {diag['target_accept']}), seed {diag['seed']}."
            )
        )
        display(self.priors(model))
        return diag

    def gate(self, model: str) -> str:
        diag = self.diagnostics(model)
        if diag["gate_passed"]:
            return f"{model}: convergence gate passed"
        return f"{model}: convergence gate FAILED ({'; '.join(diag['gate_failures'])})"
