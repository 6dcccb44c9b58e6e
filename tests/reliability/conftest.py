"""Reliability suite set-up: tiny presets, flow helpers, and the results table the suite writes.

Every test reports what it did into `RESULTS` (faults injected, runs survived, items lost, duplicates,
bad clips published - published clips whose injected defect label is known, from test_labelled_defects.py -
hostile inputs tried/refused, secrets leaked); at the end of the session the
counters are written to benchmarks/results/reliability.json (the README table). Counters only grow
from what tests observed, so a failing test leaves its evidence in the table too.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RESULTS_PATH = Path(os.environ.get("RELIABILITY_RESULTS", REPO / "benchmarks" / "results" / "reliability.json"))

SEED = int(os.environ.get("RELIABILITY_SEED", "2026"))
"""Seed of the fault schedules (RELIABILITY_SEED=N to draw others)."""
RESULTS: Counter = Counter()
"""Suite-wide counters (see module docstring); tests add to them through the `rel_results` fixture."""
CASES: list[dict] = []
"""One entry per case (fault or hostile input): name, outcome, detail."""
_OUTCOMES: Counter = Counter()
_STARTED = time.time()

# Tiny presets: the suite runs the whole flow dozens of times on 2 shared cores.
TINY_PRESETS = {
    "presets": {
        "product-page": {
            "aspect": "4:5",
            "width": 96,
            "height": 120,
            "duration_s": 0.5,
            "fps": 12,
            "loop": True,
            "motion": {"path": "breathing", "amount": 0.25, "focus": "subject"},
            "qc": {"work_long_side": 96},
            "encodings": [{"format": "mp4-h264", "crf": 28, "preset": "veryfast"}, {"format": "poster-jpeg"}],
        },
        "close-up": {
            "aspect": "1:1",
            "width": 96,
            "height": 96,
            "duration_s": 0.5,
            "fps": 12,
            "motion": {"path": "push_in", "amount": 0.35, "focus": "detail"},
            "qc": {"work_long_side": 96},
            "encodings": [{"format": "mp4-h264", "crf": 28, "preset": "veryfast"}, {"format": "poster-jpeg"}],
        },
    }
}


class Results:
    """What a test tells the suite's table."""

    def add(self, key: str, n: int = 1) -> None:
        RESULTS[key] += n

    def case(self, name: str, outcome: str, detail: str = "") -> None:
        CASES.append({"case": name, "outcome": outcome, "detail": detail[:300]})


@pytest.fixture
def rel_results() -> Results:
    return Results()


@pytest.fixture(scope="session")
def rel_presets_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rel_presets") / "presets.yaml"
    path.write_text(yaml.safe_dump(TINY_PRESETS), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def rel_catalog_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 SKUs over 2 photos at 120x150 (TEE-RED-S/-M share one), drawn once per session."""
    from catalog_connectors.samples import draw_sample_catalog

    return draw_sample_catalog(
        tmp_path_factory.mktemp("rel_catalog"), size=(120, 150), photos=["tee-red", "hoodie-logo"]
    )


@pytest.fixture
def rel_catalog(rel_catalog_src: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny catalog (tests may edit it)."""
    import shutil

    dest = tmp_path / "catalog"
    shutil.copytree(rel_catalog_src.parent, dest)
    return dest / rel_catalog_src.name


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/reliability" not in report.nodeid.replace("\\", "/"):
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _OUTCOMES[report.outcome] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _OUTCOMES:
        return  # no reliability test ran in this session: leave the last table alone
    table = {
        "faults_injected": RESULTS["faults_injected"],
        "runs": RESULTS["runs"],
        "runs_survived": RESULTS["runs_survived"],
        "runs_killed": RESULTS["runs_killed"],
        "items_lost": RESULTS["items_lost"],
        "duplicates": RESULTS["duplicates"],
        "bad_clips_published": RESULTS["bad_clips_published"],
        "labelled_defective_clips": RESULTS["labelled_defective_clips"],
        "qc_invariant_violations": RESULTS["qc_invariant_violations"],
        "hostile_inputs_tried": RESULTS["hostile_tried"],
        "hostile_inputs_refused": RESULTS["hostile_refused"],
        "refused_connections_made": RESULTS["refused_connections"],
        "files_written_outside_output": RESULTS["escaped_files"],
        "secrets_leaked": RESULTS["secrets_leaked"],
        "places_scanned_for_secrets": RESULTS["secret_places"],
        "invariant_checks": RESULTS["invariant_checks"],
        "latest_regressions": RESULTS["latest_regressions"],
        "orphans_left": RESULTS["orphans_left"],
        "events_lost": RESULTS["events_lost"],
        "events_duplicated": RESULTS["events_duplicated"],
    }
    payload = {
        "suite": "tests/reliability",
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.time() - _STARTED, 1),
        "tests": dict(_OUTCOMES),
        "seed": SEED,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "table": table,
        "extra": {
            k: v
            for k, v in sorted(RESULTS.items())
            if k
            not in {
                "faults_injected",
                "runs",
                "runs_survived",
                "runs_killed",
                "items_lost",
                "duplicates",
                "bad_clips_published",
                "labelled_defective_clips",
                "qc_invariant_violations",
                "hostile_tried",
                "hostile_refused",
                "refused_connections",
                "escaped_files",
                "secrets_leaked",
                "secret_places",
                "invariant_checks",
                "latest_regressions",
                "orphans_left",
                "events_lost",
                "events_duplicated",
            }
        },
        "cases": CASES,
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS_PATH.with_name(RESULTS_PATH.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    tmp.replace(RESULTS_PATH)
