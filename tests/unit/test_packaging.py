"""Packaging promises: aiosmtpd is the demo's extra, and production modules stay under the import contract."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import tracker_bridge

ROOT = Path(__file__).resolve().parents[2]
KIT_PACKAGES = {"testing", "_testsupport", "demo"}
PRODUCTION_CONTRACT = "production modules never import the plugin kit, test support or the demo"


def pyproject() -> dict[str, object]:
    """The repository's pyproject.toml, parsed."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_aiosmtpd_comes_with_the_demo_and_dev_extras_only() -> None:
    """The `demo` and `dev` extras install aiosmtpd; the runtime dependencies do not."""
    project = pyproject()["project"]
    assert isinstance(project, dict)

    def needs_aiosmtpd(requirements: list[str]) -> bool:
        return any(requirement.startswith("aiosmtpd") for requirement in requirements)

    extras = project["optional-dependencies"]
    assert (False, True, True) == (
        needs_aiosmtpd(project["dependencies"]),
        needs_aiosmtpd(extras["demo"]),
        needs_aiosmtpd(extras["dev"]),
    )


def test_every_core_module_is_under_the_production_import_contract() -> None:
    """Each top-level module of tracker_bridge but the kit packages is a source of the contract."""
    tooling = pyproject()["tool"]
    assert isinstance(tooling, dict)
    [contract] = [
        contract
        for contract in tooling["importlinter"]["contracts"]
        if contract["name"] == PRODUCTION_CONTRACT
    ]
    package = Path(tracker_bridge.__file__).parent
    found = {
        f"tracker_bridge.{path.stem if path.is_file() else path.name}"
        for path in package.iterdir()
        if (path.is_file() and path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists() and path.name not in KIT_PACKAGES)
    }
    assert sorted(found) == sorted(contract["source_modules"])


def test_demo_without_aiosmtpd_names_the_demo_extra(tmp_path: Path) -> None:
    """`tracker-bridge demo` with aiosmtpd absent exits 1 naming pip install 'tracker-bridge[demo]'."""
    # sys.modules[name] = None is how Python itself marks a module as not importable.
    script = (
        "import sys; sys.modules['aiosmtpd'] = None\n"
        "from tracker_bridge.cli import main\n"
        f"main(['demo', '--dir', {str(tmp_path / 'demo')!r}])\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert (1, False) == (completed.returncode, (tmp_path / "demo").exists())
    assert "pip install 'tracker-bridge[demo]'" in completed.stderr
    assert "aiosmtpd" in completed.stderr
