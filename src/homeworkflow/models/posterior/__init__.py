"""What a fit gives: summaries, convergence diagnostics and the written outputs."""
