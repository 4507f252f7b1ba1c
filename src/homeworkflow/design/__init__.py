"""Study design: power analysis and simulation-based calibration (SBC) of the Study 1 model, and
recovery and power of the Study 2 outcome model over replicate simulated data sets.

`seeds` (hashed replicate seeds), `settings` (the `design:` config: design points, effect levels,
checks, each replicate's settings), `replicates` (the one replicate runner: simulate, derive
through the workflow's chain, fit, interval rows), `power`, `sbc`, `recovery` (the three studies:
replicate and aggregate tables), `reports` (Markdown and figures). "Design" here is the study's
design (its sizes and effects); the model's design matrix is `homeworkflow.models.spec.formula`'s.
No module imports PyMC or PyTensor at import time (the Snakefile imports `settings`).
Documented in docs/design.md.
"""
