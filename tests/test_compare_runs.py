"""tools/compare_runs.py: what counts as the same result (the renovation's byte-identity check)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("compare_runs", ROOT / "tools" / "compare_runs.py")
compare_runs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_runs)


def write_run(root: Path, value: float = 1.0, pixel: int = 0, finished: str = "t1") -> Path:
    root.mkdir(parents=True)
    (root / "summary.csv").write_text(f"term,mean\nx,{value}\n")
    (root / "manifest.json").write_text(
        f'{{"finished": "{finished}", "code_version": "{finished}", "total_s": {len(finished)}, "seed": 1}}'
    )
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    image[0, 0, 0] = pixel
    Image.fromarray(image).save(root / "figure.png")
    xr.Dataset({"b": ("draw", np.array([value, 2.0]))}).to_netcdf(root / "posterior.nc", group="posterior")
    (root / "job.log").write_text(finished)
    return root


def test_runs_differing_only_in_times_and_versions_are_the_same(tmp_path, capsys):
    base = write_run(tmp_path / "base")
    head = write_run(tmp_path / "head", finished="t22")
    assert compare_runs.main(str(base), str(head)) == 0
    assert "0 differences" in capsys.readouterr().out


@pytest.mark.parametrize(
    "change, where",
    [({"value": 1.5}, "summary.csv"), ({"pixel": 9}, "figure.png: 1 pixels differ")],
    ids=["table-and-posterior", "pixel"],
)
def test_a_changed_result_is_found(tmp_path, capsys, change, where):
    base = write_run(tmp_path / "base")
    head = write_run(tmp_path / "head", **change)
    assert compare_runs.main(str(base), str(head)) == 1
    out = capsys.readouterr().out
    assert where in out
    if "value" in change:
        assert "posterior.nc: /posterior/b" in out


def test_a_missing_file_is_found(tmp_path, capsys):
    base = write_run(tmp_path / "base")
    head = write_run(tmp_path / "head")
    (head / "summary.csv").unlink()
    assert compare_runs.main(str(base), str(head)) == 1
    assert "only in base: summary.csv" in capsys.readouterr().out
