"""The import contract (pyproject.toml [tool.importlinter]) holds on the tree, and catches each kind of breach:
a stage importing another stage, Prefect in domain code, an import cycle inside a package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "flows",
    "tasks",
    "pipeline",
    "catalog_connectors",
    "generation",
    "quality",
    "publishing",
    "delivery",
    "catalog_motion",
)
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess:
    # The tree under `root` comes first on the path, ahead of the editable install of this checkout.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_tree_keeps_the_import_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 kept, 0 broken" in result.stdout


def test_the_contract_fails_each_kind_of_breach(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "generation" / "fit.py", "a", encoding="utf-8") as handle:
        handle.write("\nimport quality.gate  # a stage importing another stage\n")
    with open(tmp_path / "catalog_connectors" / "rows.py", "a", encoding="utf-8") as handle:
        handle.write("\n\ndef _emit():\n    import prefect  # even inside a function\n")
    with open(tmp_path / "delivery" / "__init__.py", "a", encoding="utf-8") as handle:
        handle.write("\nimport publishing.manifest  # delivery is a stage too: it gets manifest rows handed in\n")
    with open(tmp_path / "generation" / "base.py", "a", encoding="utf-8") as handle:
        handle.write("\nimport generation.camera  # camera imports base: a cycle\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "0 kept, 3 broken" in result.stdout
    assert "generation.fit -> quality.gate" in result.stdout
    assert "catalog_connectors.rows -> prefect" in result.stdout
    assert "delivery -> publishing.manifest" in result.stdout
    assert ".camera -> .base" in result.stdout or ".base -> .camera" in result.stdout
