"""Real data against brms 2.18 (tests/data/references.json): default settings, 4 chains x 1000 draws.

About 15 s each with warm compile caches, 20-40 s cold (2 cores), so not marked slow.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

from homeworkflow.models import ModelSpec, fit_model

DATA = Path(__file__).parent / "data"
REFERENCES = json.loads((DATA / "references.json").read_text())

# brms coefficient name -> our term name
BRMS_TERMS = {
    "contraception": {
        "Intercept": "Intercept",
        "age": "age",
        "IageE2": "I(age**2)",
        "urbanY": "urban[Y]",
        "livch1": "livch[1]",
        "livch2": "livch[2]",
        "livch3P": "livch[3+]",
    },
    "exam": {
        "Intercept": "Intercept",
        "standLRT": "standLRT",
        "sexM": "sex[M]",
        "schgendgirls": "schgend[girls]",
        "schgendmixed": "schgend[mixed]",
    },
}


@pytest.mark.parametrize("name", ["contraception", "exam"])
def test_matches_brms(name):
    reference = REFERENCES[name]
    brms = reference["brms"]
    spec = ModelSpec.from_config(name, {"formula": reference["formula"], "family": reference["family"]})
    result = fit_model(pd.read_csv(DATA / f"{name}.csv"), spec, threads=2)
    summary = result.summary.set_index("term")
    assert result.diagnostics["gate_passed"], result.diagnostics["gate_failures"]

    for brms_name, term in BRMS_TERMS[name].items():
        brms_sd = (brms["fixef_u95"][brms_name] - brms["fixef_l95"][brms_name]) / 3.92
        distance = abs(summary.loc[term, "mean"] - brms["fixef_mean"][brms_name]) / brms_sd
        assert distance < 0.25, f"{term}: {distance:.2f} brms posterior SDs from brms"

    expected_sds = {
        f"sd({group})": values[0] for group, values in brms["sd"].items() if group != "residual__"
    }
    if brms["sigma"]:
        expected_sds["sigma"] = brms["sigma"]["Estimate"]
    for term, value in expected_sds.items():
        assert summary.loc[term, "mean"] == pytest.approx(value, rel=0.10), term
