"""A prior distribution as a value: its name and parameters (models/spec/priors.py parses and
resolves them; families.py names each family's defaults)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prior:
    """A named distribution with its parameters (hashable, so equal priors can share a vector)."""

    dist: str
    params: tuple[tuple[str, float], ...]

    @property
    def kwargs(self) -> dict[str, float]:
        return dict(self.params)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params)
        return f"{self.dist}({args})"


def make_prior(dist: str, **params: float) -> Prior:
    return Prior(dist, tuple(sorted(params.items())))
