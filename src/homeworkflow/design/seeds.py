"""Replicate seeds, hashed from the master seed and the replicate's coordinates (`derive_seed`), so
every replicate is reproducible on its own, in any order, on any machine."""

from __future__ import annotations

import hashlib

SEED_MODULUS = 2**31  # seeds in [0, 2^31): valid for numpy, PyMC, nutpie and numpyro alike


def derive_seed(master: int, *parts: object) -> int:
    """A seed in [0, 2^31) from the master seed and a replicate's coordinates.

    seed = int(first 8 bytes of SHA-256("homeworkflow-design|<master>|<part 1>|<part 2>|..."),
    big-endian) mod 2^31, parts written with str(). Independent of the order in which replicates
    run and of the machine, so a local and a Slurm run of the same config draw the same data.
    """
    key = "|".join(["homeworkflow-design", str(int(master)), *map(str, parts)])
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % SEED_MODULUS


def power_seeds(master: int, design: str, effect: str, replicate: int) -> dict[str, int]:
    """Seeds of one power replicate: the simulator's and the sampler's."""
    return {
        "simulation": derive_seed(master, "power", design, effect, replicate, "simulate"),
        "sampler": derive_seed(master, "power", design, effect, replicate, "sample"),
    }


def sbc_seeds(master: int, replicate: int, redraw: int = 0) -> dict[str, int]:
    """Seeds of one SBC replicate: covariates (simulator), parameters from the prior (redraw k
    after k constant outcomes), and the sampler."""
    return {
        "simulation": derive_seed(master, "sbc", replicate, "simulate"),
        "prior": derive_seed(master, "sbc", replicate, "prior", redraw),
        "sampler": derive_seed(master, "sbc", replicate, "sample"),
    }


def recovery_seeds(master: int, outcome: str, effect_label: str, replicate: int) -> dict[str, int]:
    """Seeds of one Study 2 replicate: the simulator's and the sampler's."""
    parts = ("study2", outcome, effect_label, replicate)
    return {
        "simulation": derive_seed(master, *parts, "simulate"),
        "sampler": derive_seed(master, *parts, "sample"),
    }
