"""Figures of the workflow: one module per study plus convergence diagnostics, sharing one style.

    from homeworkflow.presentation.figures import study1, study2, diagnostics
    from homeworkflow.presentation.figures.style import save_figure
    save_figure(study1.odds_ratio_forest_figure(odds_ratios, reference_levels), "figures/study1/odds_ratios")

`labels` (readable model-term labels) is shared with `homeworkflow.presentation.tables`; importing this package
alone does not load matplotlib.
"""
