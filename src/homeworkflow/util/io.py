"""Reading and writing tables: CSV or Parquet in, CSV, Parquet or Markdown out.

Reading is forgiving about how a CSV was saved (byte-order mark, Latin-1 from Excel, `;` or tab
as delimiter) so that validation sees the cells the user typed. Writing is atomic: a half-written
file never replaces a good one, so an interrupted workflow leaves no corrupt outputs behind.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

log = logging.getLogger(__name__)

_UMASK = os.umask(0)
os.umask(_UMASK)

DELIMITERS = (",", ";", "\t")


class EmptyTableError(ValueError):
    """A CSV file with no bytes, or with a header and no data rows."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def to_utf8(raw: bytes, name: str) -> bytes:
    """A file's bytes as UTF-8 without byte-order mark; non-UTF-8 files are read as Windows
    Latin-1 (cp1252, the encoding of Excel's "CSV" on Western systems) with a warning."""
    try:
        raw.decode("utf-8")
        return raw.removeprefix(b"\xef\xbb\xbf")
    except UnicodeDecodeError:
        pass
    log.warning("%s is not valid UTF-8; read it as Latin-1 (cp1252). Save it as UTF-8 to be sure.", name)
    try:
        return raw.decode("cp1252").encode("utf-8")
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; ISO Latin-1 maps every byte.
        return raw.decode("latin-1").encode("utf-8")


def sniff_delimiter(header: str) -> str:
    """The delimiter among `,` `;` and tab that splits the header line into the most fields."""
    return max(DELIMITERS, key=header.count)


def read_table(
    path: str | os.PathLike, *, as_text: bool = False, missing_codes: Iterable[str] | None = None
) -> pd.DataFrame:
    """Read a CSV or Parquet file, chosen by suffix.

    With `as_text=True` every CSV cell comes back as the string the user wrote (no type
    inference, no missing-value guessing), so validation can report a bad cell instead of
    pandas coercing it silently; Parquet columns keep their stored types. The CSV's delimiter
    is kept in `df.attrs["delimiter"]`. Otherwise `missing_codes` (e.g. the config's
    `missing_codes`) are read as missing besides pandas' defaults, and in a `;`-delimited file
    a column of numbers written with decimal commas is read as numbers; both are logged.
    A removed byte-order mark and a delimiter other than `,` are logged too.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix not in (".csv", ".tsv", ".txt"):
        raise ValueError(f"{path}: cannot read files ending in '{path.suffix}'; use .csv or .parquet")
    raw = path.read_bytes()
    if not raw.strip():
        raise EmptyTableError(path, f"the file is empty ({len(raw)} bytes); expected a header and data rows")
    data = to_utf8(raw, str(path))
    header = data.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    delimiter = sniff_delimiter(header)
    names = [n.strip() for n in next(csv.reader([header], delimiter=delimiter))]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"{path}: the header names column(s) {duplicated} more than once")
    notes = ["byte-order mark removed"] if raw.startswith(codecs.BOM_UTF8) else []
    if delimiter != ",":
        notes.append(f"delimiter {delimiter!r}")
    if notes:
        log.info("%s: %s", path, "; ".join(notes))
    if as_text:
        df = _read_text_cells(data, names, delimiter, path)
    else:
        codes = [str(c) for c in missing_codes] if missing_codes is not None else None
        df = pd.read_csv(io.BytesIO(data), sep=delimiter, header=0, names=names, encoding="utf-8", na_values=codes)
        if delimiter == ";":
            _decimal_commas(df, path)
        if codes is not None:
            for column, n in df.isna().sum().items():
                if n:
                    log.info("%s, column '%s': %d cell%s read as missing", path, column, n, "s" * (n != 1))
    if len(df) == 0:
        raise EmptyTableError(path, "the file has a header but no data rows")
    df.attrs["delimiter"] = delimiter
    return df


def _decimal_commas(df: pd.DataFrame, path: Path) -> None:
    """Text columns of a `;` file whose every value is a number, some with a decimal comma
    ("3,5", as European spreadsheets write them), become numbers."""
    for column in df.columns:
        values = df[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        text = values.dropna().astype(str).str.strip()
        if len(text) and text.str.fullmatch(r"[+-]?\d+(,\d+)?").all() and text.str.contains(",").any():
            numbers = values.astype(str).str.strip().str.replace(",", ".", regex=False)
            df[column] = pd.to_numeric(numbers.where(values.notna()))
            log.info("%s, column '%s': decimal commas read as decimal points", path, column)


def _read_text_cells(data: bytes, names: list[str], delimiter: str, path: Path) -> pd.DataFrame:
    """Every cell as text, exactly as written (Arrow's multithreaded CSV reader)."""
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as error:
        raise ValueError(f"{path}: {error}") from None
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=float("nan"))}.get)


def write_table(df: pd.DataFrame | str, path: str | os.PathLike) -> Path:
    """Write `df` to `path` atomically (temporary file, then `os.replace`); format by suffix.

    `.csv` and `.parquet` hold data; `.md` holds a Markdown table for reports (`df` may also be
    Markdown text already, e.g. from `descriptives.to_markdown`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".md"):
        raise ValueError(f"{path}: cannot write files ending in '{path.suffix}'; use .csv, .parquet or .md")
    if isinstance(df, str) and suffix != ".md":
        raise TypeError(f"{path}: text can only be written to a .md file")
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            df.to_csv(tmp, index=False)
        elif suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            text = df if isinstance(df, str) else df.to_markdown(index=False)
            tmp.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    return path


def write_json(obj: object, path: str | os.PathLike) -> Path:
    """Write `obj` as indented JSON atomically; numpy scalars and arrays become plain numbers."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n", encoding="utf-8")
    return path


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


@contextlib.contextmanager
def atomic_path(path: Path):
    """A temporary path beside `path` that replaces it only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
