"""Privacy: raw identifiers never reach an output, small cells are suppressed, and real data
stays out of git.

The raw-ID check runs the real workflow on users' files whose every identifier is a distinctive
string ("RAWID-THER-001", "RAWID-CLI-0001", ...), then scans every file of the run for each raw
ID: plain bytes (UTF-8 and UTF-16, case-insensitive) and, because a byte scan alone misses
compressed or encoded text, also the decoded content of Parquet tables, netCDF posteriors (every
group's variables, coordinates and attributes), PNG text chunks (compressed ones inflated), PDF
streams (inflated), zip and gzip members, and base64 payloads (data URIs in HTML, images in
notebooks). Text drawn into a figure's pixels cannot be scanned; figures are drawn only from
derived (pseudonymised) tables. Logs are scanned too: only the log of a job that failed
validation may quote a raw value (the offending cell, so the user can find it).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import re
import subprocess
import zipfile
import zlib
from pathlib import Path

import pandas as pd
import pytest
from workflow_runner import ROOT, TINY_STUDY1, TINY_STUDY2, RunResult, run_workflow, tiny_config

from homeworkflow.data.descriptives import table1_study1
from homeworkflow.simulate import simulate_study1, simulate_study2
from homeworkflow.data.validate import load_study

PREFIX = "RAWID"
KINDS = {"therapist_id": "THER", "client_id": "CLI", "session_id": "SES", "organisation_id": "ORG"}


# ---------------------------------------------------------------------------- raw-ID inputs


def raw_id_tables(seed: int = 3) -> dict[str, dict[str, pd.DataFrame]]:
    """Tiny simulated tables of both studies with every identifier replaced by a raw-looking
    distinctive string, the same raw ID for the same unit in every table of a study."""
    studies = {
        "study1": simulate_study1(TINY_STUDY1, seed=seed)[0],
        "study2": simulate_study2(TINY_STUDY2, seed=seed)[0],
    }
    for tables in studies.values():
        for column, kind in KINDS.items():
            values = sorted({v for df in tables.values() if column in df for v in df[column]})
            width = len(str(len(values)))
            mapping = {v: f"{PREFIX}-{kind}-{i:0{width + 1}d}" for i, v in enumerate(values, 1)}
            for df in tables.values():
                if column in df:
                    df[column] = df[column].map(mapping)
    return studies


def write_raw_inputs(directory: Path, studies=None) -> tuple[dict[str, dict[str, Path]], set[str]]:
    """Write the raw-ID tables as CSV; return the paths and the set of every raw ID."""
    studies = studies or raw_id_tables()
    paths, ids = {}, set()
    for study, tables in studies.items():
        paths[study] = {}
        for name, df in tables.items():
            path = directory / study / f"{name}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            df.to_csv(path, index=False)
            paths[study][name] = path
            for column in KINDS:
                if column in df:
                    ids |= set(df[column].astype(str))
    assert ids and all(i.startswith(PREFIX) for i in ids)
    return paths, ids


def files_config(run: str, paths: dict, **overrides) -> dict:
    config = tiny_config(run, **overrides)
    for study, files in paths.items():
        config[study]["source"] = "files"
        config[study]["files"] = {name: str(p) for name, p in files.items()}
    return config


# --------------------------------------------------------------------------------- scanning


def _needles(ids: set[str]) -> list[bytes]:
    tokens = {PREFIX.lower(), *(i.lower() for i in ids)}
    return [t.encode(enc) for t in tokens for enc in ("utf-8", "utf-16-be", "utf-16-le")]


def _png_texts(data: bytes):
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            yield key + b" " + zlib.decompress(rest[1:])
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            compressed, rest = rest[0], rest[2:]
            _lang, _, rest = rest.partition(b"\0")
            _translated, _, text = rest.partition(b"\0")
            yield key + b" " + (zlib.decompress(text) if compressed else text)
        elif kind == b"tEXt":
            yield body
        pos += 12 + length


def _pdf_streams(data: bytes):
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            yield zlib.decompress(match.group(1))
        except zlib.error:
            continue


def _base64_payloads(data: bytes):
    for match in re.finditer(rb"(?:base64,|\"image/png\": \")([A-Za-z0-9+/=\\n]{64,})", data):
        blob = match.group(1).replace(b"\\n", b"")
        try:
            yield base64.b64decode(blob + b"=" * (-len(blob) % 4))
        except (binascii.Error, ValueError):
            continue


def views(data: bytes, name: str, depth: int = 0):
    """The bytes of a file and every decoded view of them (recursively, a few levels deep)."""
    yield data
    if depth > 3:
        return
    nested = []
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        nested += list(_png_texts(data))
    if data.startswith(b"%PDF"):
        nested += list(_pdf_streams(data))
    if data.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            nested += [archive.read(n) for n in archive.namelist()]
    if data.startswith(b"\x1f\x8b"):
        nested.append(gzip.decompress(data))
    if name.endswith((".parquet", ".pq")) or data.startswith(b"PAR1"):
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        nested.append(table.to_pandas().to_csv().encode())
        nested.append(str(table.schema.metadata).encode())
    if name.endswith((".nc", ".h5", ".hdf5")) or data.startswith(b"\x89HDF"):
        nested.append(_netcdf_text(data))
    nested += list(_base64_payloads(data))
    for inner in nested:
        yield from views(inner, "", depth + 1)


def _netcdf_text(data: bytes) -> bytes:
    import h5py

    parts = []

    def visit(name, obj):
        parts.append(name)
        parts.extend(f"{k}={v!r}" for k, v in obj.attrs.items())
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "OSU":
            parts.extend(map(repr, obj[()].ravel().tolist()))

    with h5py.File(io.BytesIO(data), "r") as f:
        parts.extend(f"{k}={v!r}" for k, v in f.attrs.items())
        f.visititems(visit)
    return "\n".join(parts).encode()


def raw_id_hits(root: Path, ids: set[str], skip=("simulated",)) -> dict[str, list[str]]:
    """{file (relative to root): [raw IDs or the prefix found]} over every file under root."""
    needles = _needles(ids)
    hits = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if rel.parts and rel.parts[0] in skip:
            continue
        found = set()
        for view in views(path.read_bytes(), path.name):
            low = view.lower()
            found |= {n.decode("utf-8", "replace") for n in needles if n in low}
        if found:
            hits[str(rel)] = sorted(found)
    return hits


def test_scanner_finds_ids_hidden_in_compressed_and_encoded_files(tmp_path):
    """The scanner itself: a raw ID in Parquet (compressed), netCDF, PNG zTXt, a Flate PDF
    stream, a base64 data URI and UTF-16 text is found; a clean file is not flagged."""
    raw = "RAWID-THER-001"
    pd.DataFrame({"id": [raw] * 50}).to_parquet(tmp_path / "a.parquet", compression="zstd")
    import xarray as xr

    xr.Dataset(coords={"g": [raw, "T-0123456789"]}).to_netcdf(tmp_path / "b.nc", engine="h5netcdf")
    chunk = b"Comment\0\0" + zlib.compress(raw.encode())
    png = b"\x89PNG\r\n\x1a\n" + len(chunk).to_bytes(4, "big") + b"zTXt" + chunk + b"\0\0\0\0"
    (tmp_path / "c.png").write_bytes(png)
    (tmp_path / "d.pdf").write_bytes(b"%PDF-1.4\nstream\n" + zlib.compress(raw.encode()) + b"\nendstream\n")
    (tmp_path / "e.html").write_bytes(b"<img src='data:text/csv;base64," + base64.b64encode(raw.encode() * 8) + b"'>")
    (tmp_path / "f.txt").write_bytes(raw.encode("utf-16-be"))
    (tmp_path / "clean.csv").write_text("therapist_id\nT-0123456789\n")
    hits = raw_id_hits(tmp_path, {raw})
    assert set(hits) == {"a.parquet", "b.nc", "c.png", "d.pdf", "e.html", "f.txt"}, hits


# ------------------------------------------------------------------------------ the workflow


@pytest.fixture(scope="module")
def raw_data_run(tmp_path_factory) -> tuple[RunResult, set[str]]:
    """Both studies from raw-ID files through validation, cleaning, features and Table 1,
    with a non-default `privacy.min_cell`."""
    tmp = tmp_path_factory.mktemp("privacy")
    paths, ids = write_raw_inputs(tmp / "input")
    config = files_config("private", paths, privacy={"min_cell": 5})
    targets = [f"results/private/{s}/table1.csv" for s in ("study1", "study2")]
    result = run_workflow(tmp / "work", config, targets, cores=2)
    assert result.returncode == 0, result.describe()
    return result, ids


def test_no_raw_id_in_any_output_or_log(raw_data_run):
    result, ids = raw_data_run
    files = result.files("")
    assert any(p.suffix == ".parquet" for p in files) and any(p.parent.name == "logs" for p in files)
    assert raw_id_hits(result.results, ids) == {}


def counts_shown(table1: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(variable, statistic, value) of every count cell of a Table 1."""
    rows = table1[table1["statistic"].str.contains(r"n \(%\)", regex=True)]
    return list(rows[["variable", "statistic", "value"]].itertuples(index=False, name=None))


def assert_suppressed(table1: pd.DataFrame, min_cell: int) -> None:
    """No count below `min_cell` is shown (0 may be); something is suppressed (the data are
    tiny), and every suppression marker uses this threshold."""
    for variable, statistic, value in counts_shown(table1):
        if value in (f"<{min_cell}", "suppressed"):
            continue
        count = int(value.split(" ")[0].replace(",", ""))
        assert count == 0 or count >= min_cell, (variable, statistic, value)
    markers = {m.group(1) for v in table1["value"] if (m := re.match(r"<(\d+)", str(v)))}
    assert markers == {str(min_cell)}, markers


def test_table1_suppresses_cells_below_configured_min_cell(raw_data_run):
    result, _ = raw_data_run
    for study in ("study1", "study2"):
        table1 = pd.read_csv(result.results / study / "table1.csv", dtype=str, keep_default_na=False)
        assert_suppressed(table1, 5)
        assert "<5" in (result.results / study / "table1.md").read_text()


@pytest.mark.parametrize("min_cell", [11, 5, 3])
def test_min_cell_threshold_moves_suppression(tmp_path, min_cell):
    """Package level: the same tables under different thresholds (11 is the default)."""
    paths, _ = write_raw_inputs(tmp_path, {"study1": raw_id_tables()["study1"]})
    tables = load_study("study1", paths["study1"])
    table1 = table1_study1(tables, min_cell=min_cell)
    assert_suppressed(table1, min_cell)


def test_raw_values_only_in_the_log_of_failed_validation(tmp_path):
    """A bad cell is quoted in the failing job's log (so it can be found and fixed), nowhere
    else; the job leaves no output."""
    studies = raw_id_tables()
    sessions = studies["study1"]["sessions"]
    sessions.loc[3, "client_id"] = "RAWID-CLI-9999"  # orphan
    paths, ids = write_raw_inputs(tmp_path / "input", {"study1": studies["study1"]})
    config = files_config("failed", paths)
    result = run_workflow(tmp_path / "work", config, ["results/failed/study1/clean/flow.csv"])
    assert result.returncode != 0
    assert "RAWID-CLI-9999" in result.log("clean_study1")
    hits = raw_id_hits(result.results, ids | {"RAWID-CLI-9999"})
    assert set(hits) == {"logs/clean_study1.log"}, hits
    assert not (result.results / "study1" / "clean").exists() or not list(
        (result.results / "study1" / "clean").iterdir()
    )


@pytest.mark.slow
def test_no_raw_id_anywhere_after_a_full_run(tmp_path):
    """The whole workflow (models, figures, tables, notebooks, manifest) and the HTML report."""
    paths, ids = write_raw_inputs(tmp_path / "input")
    config = files_config("private", paths)
    result = run_workflow(tmp_path / "work", config, cores=2, timeout=3600)
    assert result.returncode == 0, result.describe()
    report = run_workflow(
        tmp_path / "work", config, cores=1, extra=["--report", "results/private/report.html"], timeout=900
    )
    assert report.returncode == 0, report.describe()
    assert (result.results / "manifest.json").exists()
    assert list(result.results.glob("models/*/posterior.nc"))
    assert raw_id_hits(result.results, ids) == {}


# ------------------------------------------------------------------------------------- git


@pytest.mark.parametrize(
    "path",
    ["data/study1/sessions.csv", "data/anything.parquet", "results/default/study1/table1.csv", "results/x/logs/a.log"],
)
def test_data_and_results_are_ignored_by_git(path):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
    assert result.returncode == 0, f"{path} is not ignored by git"


def test_results_placeholder_is_not_ignored():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "check-ignore", "-q", "results/.gitkeep"], cwd=ROOT)
    assert result.returncode == 1
