"""Stable pseudonyms for every identifier, so no raw ID reaches a derived table.

A pseudonym is a prefix naming the kind of unit (T-, C-, S-, O-) and the first 10 hex characters
of HMAC-SHA256(salt, raw id). The same salt and ID give the same pseudonym in every table and
every run; without the salt the raw ID cannot be recovered by hashing candidate IDs.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from homeworkflow.contract import STUDIES

log = logging.getLogger(__name__)

PREFIXES = {"therapist_id": "T", "client_id": "C", "session_id": "S", "organisation_id": "O"}
HEX_CHARS = 10


def pseudonym_prefix(column: str) -> str:
    """The prefix for an ID column: T, C, S or O, else the column's first letter."""
    return PREFIXES.get(column, column[:1].upper())


def pseudonymise(tables: Mapping[str, pd.DataFrame], study: str, salt: str | bytes) -> dict[str, pd.DataFrame]:
    """Replace every ID column (contract kind "id") by its pseudonym, consistently across tables.

    Returns new tables; the inputs are not modified. Raises ValueError for an empty salt.
    """
    if study not in STUDIES:
        raise ValueError(f"unknown study {study!r}; expected one of {sorted(STUDIES)}")
    key = salt.encode("utf-8") if isinstance(salt, str) else bytes(salt)
    if not key:
        raise ValueError("pseudonymise needs a non-empty salt (config: privacy salt); keep it secret")
    id_columns = sorted(
        {c.name for name in tables if name in STUDIES[study] for c in STUDIES[study][name].columns if c.kind == "id"}
    )
    out = {name: df.copy() for name, df in tables.items()}
    for column in id_columns:
        holders = [name for name, df in tables.items() if column in df.columns]
        raw = pd.Index(pd.unique(pd.concat([tables[n][column] for n in holders], ignore_index=True).dropna()))
        codes = _pseudonyms(raw, key, pseudonym_prefix(column), column)
        for name in holders:
            position = raw.get_indexer(tables[name][column])
            values = np.where(position >= 0, codes[position], None)
            out[name][column] = pd.Series(values, index=tables[name].index, dtype="str")
    return out


def _pseudonyms(raw: pd.Index, key: bytes, prefix: str, column: str) -> np.ndarray:
    """Pseudonyms for unique raw IDs; lengthened (with a warning) in the rare case of a collision."""
    digests = [hmac.digest(key, str(value).encode("utf-8"), "sha256").hex() for value in raw]
    n_chars = HEX_CHARS
    while len({d[:n_chars] for d in digests}) < len(digests):
        n_chars += 2
    if n_chars > HEX_CHARS:
        log.warning(
            "%s: %d distinct IDs collide in their first %d hex characters; pseudonyms use %d",
            column,
            len(digests),
            HEX_CHARS,
            n_chars,
        )
    return np.array([f"{prefix}-{d[:n_chars]}" for d in digests], dtype=object)
