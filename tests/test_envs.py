"""The per-rule conda envs pin exactly what the pip lock pins."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def locked_versions() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    return pins


@pytest.mark.parametrize("env", sorted((ROOT / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_pins_match_lock(env):
    lock = locked_versions()
    spec = yaml.safe_load(env.read_text())
    pip_deps = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    assert pip_deps, f"{env.name} pins nothing"
    for dep in pip_deps:
        name, version = dep.split("==")
        assert lock.get(name.lower().replace("_", "-")) == version, f"{env.name}: {dep} not in lock"
    assert "python=3.11" in spec["dependencies"]


def test_every_rule_env_exists():
    rules = "".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    for line in rules.splitlines():
        if line.strip().startswith('"../envs/'):
            assert (ROOT / "envs" / Path(line.strip().strip('",')).name).exists(), line


def test_requirements_in_pinned_in_lock():
    lock = locked_versions()
    for line in (ROOT / "requirements.in").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            name = name.split("[")[0].lower()
            assert lock.get(name) == version, f"requirements.in pins {line}; lock has {lock.get(name)}"
