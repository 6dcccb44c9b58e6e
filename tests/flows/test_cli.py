"""`catalog-motion run` as a subprocess: the default (private local server) happy path, bad arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "flows.cli"]


def _run(args: list[str], env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    # No inherited PREFECT_* or output-folder defaults: each test says where the CLI looks.
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    for key in ("XDG_STATE_HOME", "CATALOG_MOTION_OUT"):
        base.pop(key, None)
    base["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**base, **(env or {})},
        cwd=Path(__file__).resolve().parents[2],
    )


def test_cli_run_default_local_server(flows_catalog, flows_presets_file, tmp_path):
    """No PREFECT_API_URL: the CLI starts a private server, shows progress and a summary, stays quiet."""
    out = tmp_path / "out"
    home = tmp_path / "home"
    result = _run(
        [
            "run",
            "--catalog",
            str(flows_catalog),
            "--presets",
            "product-page",
            "--out",
            str(out),
            "--presets-file",
            str(flows_presets_file),
        ],
        env={"HOME": str(home)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert "telemetry" not in (result.stderr + result.stdout).lower()
    assert "Error logging to API" not in result.stderr
    assert "INFO" not in result.stderr  # Prefect's console log lines stay off the terminal
    assert f"results: {out}" in result.stdout and "manifest:" in result.stdout and "published" in result.stdout
    latest = json.loads((out / "latest" / "manifest.json").read_text())
    assert len(latest["rows"]) == 3 and all(r["status"] == "published" for r in latest["rows"])
    # the private server's history lives in the work folder and the server is gone afterwards
    assert (out / ".work" / "prefect" / "prefect.db").is_file()

    # Right after a run (`make demo && catalog-motion manifest show`): no --out needed, the folder is named.
    shown = _run(["manifest", "show"], env={"HOME": str(home), "COLUMNS": "200"}, timeout=60)
    assert shown.returncode == 0, shown.stderr[-2000:]
    lines = [line for line in shown.stdout.splitlines() if line.strip()]
    assert lines[0].startswith(f"out: {out} (the last `catalog-motion run`")
    table = [line.split() for line in lines if line.split()[0] in {r["sku"] for r in latest["rows"]}]
    assert len(table) == 3 and all(cells[2] == "published" for cells in table)
    assert lines[-1] == "3 rows: 3 published" and "drift=" not in shown.stdout

    # A second run (nothing changed): `manifest list` shows both, newest first, with their counts.
    again = _run(
        ["run", "--catalog", str(flows_catalog), "--presets", "product-page", "--out", str(out)]
        + ["--presets-file", str(flows_presets_file)],
        env={"HOME": str(home)},
    )
    assert again.returncode == 0, again.stderr[-3000:]
    listed = _run(["manifest", "list", "--json"], env={"HOME": str(home)}, timeout=60)
    assert listed.returncode == 0, listed.stderr[-2000:]
    runs = json.loads(listed.stdout)
    assert len(runs) == 2 and runs[0]["latest"] and not runs[1]["latest"]
    assert runs[0]["started_at"] >= runs[1]["started_at"]
    assert runs[1]["counts"] == {"published": 3} and sum(runs[0]["counts"].values()) == 3
    assert f"out: {out}" in listed.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--catalog", "{missing}"], "catalog not found"),
        (["run", "--catalog", "{catalog}", "--presets", "nope"], "unknown preset"),
        (["run", "--catalog", "{catalog}", "--presets", ","], "at least one name"),
        (["run", "--catalog", "{catalog}", "--config", "{bad_config}"], "invalid setting"),
        (["run", "--catalog", "{catalog}", "--presets-file", "{missing}"], "cannot read presets file"),
        (["run"], "--catalog"),
        (["run", "--catalog", "{catalog}", "--bogus"], "No such option"),
    ],
)
def test_cli_bad_arguments_one_line_exit_2(args, message, flows_catalog, tmp_path):
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("orchestration:\n  batch_size: 0\n", encoding="utf-8")
    values = {"missing": str(tmp_path / "nope.csv"), "catalog": str(flows_catalog), "bad_config": str(bad_config)}
    result = _run([a.format(**values) for a in args], timeout=60)
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert message in lines[0] and "Traceback" not in result.stderr


def test_cli_unreadable_catalog_one_line(prefect_server_env, tmp_path):
    """A catalog file that exists but is not a catalog fails inside the flow: still one line, exit 2."""
    junk = tmp_path / "catalog.csv"
    junk.write_bytes(b"\x00\x01\x02 not a catalog")
    result = _run(
        ["run", "--catalog", str(junk), "--out", str(tmp_path / "out")],
        env={"PREFECT_API_URL": prefect_server_env["PREFECT_API_URL"], "HOME": str(tmp_path / "home")},
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr[-2000:]
