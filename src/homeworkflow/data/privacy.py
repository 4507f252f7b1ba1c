"""Stable pseudonyms for every identifier, so no raw ID reaches a derived table.

A pseudonym is a prefix naming the kind of unit (T-, C-, S-, O-) and the first 10 hex characters
of HMAC-SHA256(salt, raw id). The same salt and ID give the same pseudonym in every table and
every run; without the salt the raw ID cannot be recovered by hashing candidate IDs.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from homeworkflow.data.contract import STUDIES

log = logging.getLogger(__name__)

PREFIXES = {"therapist_id": "T", "client_id": "C", "session_id": "S", "organisation_id": "O"}
HEX_CHARS = 10
TEXT = pd.StringDtype("pyarrow", na_value=float("nan"))  # pandas' default "str" dtype


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
        raise ValueError("pseudonymise needs a non-empty salt (config: privacy.salt); keep it secret")
    id_columns = sorted(
        {c.name for name in tables if name in STUDIES[study] for c in STUDIES[study][name].columns if c.kind == "id"}
    )
    out = {name: df.copy() for name, df in tables.items()}
    for column in id_columns:
        holders = [name for name, df in tables.items() if column in df.columns]
        stacked = pd.concat([tables[n][column].astype(TEXT) for n in holders], ignore_index=True)
        codes, raw = pd.factorize(stacked)  # one code per distinct raw ID, shared by all tables
        pseudonyms = _pseudonyms(raw.to_numpy(dtype=object).tolist(), key, pseudonym_prefix(column), column)
        masked = pc.take(pseudonyms, pa.array(codes, mask=codes < 0))
        start = 0
        for name in holders:
            n = len(tables[name])
            out[name][column] = pd.Series(masked[start : start + n], index=tables[name].index, dtype=TEXT)
            start += n
    return out


def _pseudonyms(raw: list[str], key: bytes, prefix: str, column: str) -> pa.Array:
    """Pseudonyms for unique raw IDs; lengthened (with a warning) in the rare case that two IDs
    share the first HEX_CHARS hex characters (likely only beyond about a million IDs)."""
    digests = np.frombuffer(_hmac_sha256(key, raw), dtype=np.uint8).reshape(len(raw), 32)
    leading = np.sort(np.ascontiguousarray(digests[:, :8]).view(">u8").ravel().astype(np.uint64))

    def collide(n_bytes: int) -> bool:  # do two IDs share their first n_bytes digest bytes?
        prefix = leading >> np.uint64(8 * (8 - n_bytes))  # still sorted
        return bool((prefix[1:] == prefix[:-1]).any())

    n_bytes = HEX_CHARS // 2
    while n_bytes < 8 and collide(n_bytes):
        n_bytes += 1
    if collide(n_bytes):  # pragma: no cover - 64-bit collision
        raise RuntimeError(f"{column}: pseudonyms collide in 16 hex characters; use another salt")
    if n_bytes > HEX_CHARS // 2:
        log.warning(
            "%s: %d distinct IDs collide in their first %d hex characters; pseudonyms use %d",
            column,
            len(raw),
            HEX_CHARS,
            2 * n_bytes,
        )
    hex_text = digests[:, :n_bytes].tobytes().hex().encode("ascii")
    codes = np.char.add(f"{prefix}-".encode("ascii"), np.frombuffer(hex_text, dtype=f"S{2 * n_bytes}"))
    return pa.array(codes, type=pa.binary()).cast(pa.string())


def _hmac_sha256(key: bytes, messages: list[str]) -> bytes:
    """Concatenated HMAC-SHA256 digests (RFC 2104) of many short messages; the keyed inner and
    outer states are computed once and copied, about twice as fast as `hmac.digest` per message."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner_copy = hashlib.sha256(bytes(b ^ 0x36 for b in key)).copy
    outer_copy = hashlib.sha256(bytes(b ^ 0x5C for b in key)).copy
    out = []
    append = out.append
    for message in messages:
        inner = inner_copy()
        inner.update(message.encode("utf-8"))
        outer = outer_copy()
        outer.update(inner.digest())
        append(outer.digest())
    return b"".join(out)
