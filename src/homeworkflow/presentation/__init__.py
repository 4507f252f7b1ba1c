"""What a run shows: publication tables (`tables`), figures (`figures/`, one house `style`),
readable term names (`labels`) and the review notebooks' helpers (`notebook`)."""
