"""The floor every other folder stands on: reading and writing tables (`io`, with the one atomic
writer), a rule script's log (`logs`), per-model settings and the config's hash (`config`), the
run's manifest (`provenance`). Imports nothing else of the package."""
