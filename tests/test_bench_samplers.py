"""The samplers benchmark's arithmetic: ratios to PyMC per seed, and medians over seeds."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from bench_samplers import medians, with_ratios  # noqa: E402


def row(sampler, seed, ess_per_s, ess_per_sampling_s, **extra):
    return {
        "model": "m",
        "sampler": sampler,
        "seed": seed,
        "ess_per_s": ess_per_s,
        "ess_per_sampling_s": ess_per_sampling_s,
        "min_ess_bulk": 10 * ess_per_s,
        "fit_total_s": 1.0,
        **extra,
    }


@pytest.fixture
def rows():
    return with_ratios(
        [
            row("nutpie", 1, 120.0, 200.0),
            row("pymc", 1, 40.0, 50.0),
            row("nutpie", 2, 90.0, 150.0),
            row("pymc", 2, 20.0, 25.0),
            row("nutpie", 3, 100.0, 160.0),
            row("pymc", 3, 35.0, 45.0),
            row("nutpie", 1, 60.0, 80.0, variant="mass_matrix=low_rank"),
        ]
    )


def test_ratios_pair_rows_of_the_same_seed_with_plain_pymc(rows):
    assert [r["ess_per_s_vs_pymc"] for r in rows] == [3.0, 1.0, 4.5, 1.0, 2.86, 1.0, 1.5]
    assert rows[0]["sampling_ess_per_s_vs_pymc"] == 4.0


def test_the_summary_is_the_ratio_of_medians_not_the_median_of_ratios(rows):
    summary = {(r["sampler"], r.get("variant")): r for r in medians(rows)}
    nutpie = summary[("nutpie", None)]
    assert nutpie["seed"] == "median"
    assert nutpie["ess_per_s"] == 100.0 and summary[("pymc", None)]["ess_per_s"] == 35.0
    assert nutpie["ess_per_s_vs_pymc"] == 2.86  # 100 / 35; the per-seed ratios' median is 3.0
    assert nutpie["sampling_ess_per_s_vs_pymc"] == 3.56  # 160 / 45; theirs 4.0
    assert summary[("nutpie", "mass_matrix=low_rank")]["ess_per_s_vs_pymc"] == round(60 / 35, 2)
