"""The whole catalog flow (real local Prefect server) with the QC gate on, the presets' own thresholds: one
preset per tiny diffusion engine variant, each a tiny random pipeline loaded from a save_pretrained folder with
HF_HUB_OFFLINE=1. Random weights draw noise, and the gate must say so: every row ends `rejected` with a reason
naming the check, after the preset's ask-for-less attempts, and never `failed`; the same run twice gives the
same verdicts from the same clips."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
import yaml

from generation.diffusion.engine import make_identity
from generation.diffusion.engines import WanEngine
from generation.diffusion.settings import parse_settings
from generation.registry import register_engine
from quality.verdict import REGENERATE_CHECKS
from tests.fixtures.tiny_pipelines import TINY_ENGINES, tiny_engine_name

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]

VARIANTS = TINY_ENGINES
CHECKS = ("drift", "detail", "boiling", "cut", "glitch", "framing", "motion", "flicker", "technical", "loop")


def engine_of(variant: str) -> str:
    """The engine name a variant's preset uses: wan's other forms run under their own name (registered below),
    so one run holds all three Wan checkpoints."""
    return variant if variant in {"wan22", "wan_ti2v"} else tiny_engine_name(variant)


def wan_form_engine(raw: dict[str, Any]) -> WanEngine:
    """The production Wan engine (module level, so the engine's worker process can unpickle it)."""
    return WanEngine(parse_settings("wan", raw))


# The production Wan engine under a second and third name (a plugin of this run), one per tiny Wan form.
for _form in ("wan22", "wan_ti2v"):
    register_engine(_form, isolation="process", identity=make_identity(WanEngine))(wan_form_engine)


def _presets() -> dict:
    presets = {}
    for variant in VARIANTS:
        presets[f"clip-{variant}"] = {
            "aspect": "4:5",
            "width": 64,
            "height": 80,
            "duration_s": 1.0,
            "fps": 12,
            "loop": False,
            "engine": engine_of(variant),
            "motion": {"path": "push_in", "amount": 0.4, "prompt": "studio shot of a garment"},
            # no `qc:` block: the packaged default thresholds decide
            "ask_for_less": {"max_attempts": 2},
            "encodings": [{"format": "mp4-h264", "crf": 18, "preset": "veryfast"}, {"format": "poster-jpeg"}],
        }
    return {"presets": presets}


@pytest.fixture(scope="module")
def one_photo_catalog(tmp_path_factory):
    """Two SKUs (sizes of one colour) sharing one 320x400 photo: one item per preset, two manifest rows."""
    from catalog_connectors.samples import draw_sample_catalog

    return draw_sample_catalog(tmp_path_factory.mktemp("one_photo"), size=(320, 400), photos=["tee-red"])


@pytest.mark.timeout(1200)
def test_flow_with_every_diffusion_engine_and_the_gate_on(
    prefect_api, one_photo_catalog, tiny_model_settings, tmp_path, monkeypatch
):
    from tests.flows.helpers import manifest_rows, run_flow

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    presets_file = tmp_path / "presets.yaml"
    presets_file.write_text(yaml.safe_dump(_presets()), encoding="utf-8")
    settings_file = tmp_path / "settings.yaml"
    engines = {engine_of(v): tiny_model_settings(v) for v in VARIANTS}
    # a generous per-clip timeout: a shared 2-core CI box must not turn a slow tiny clip into `failed`
    plugins = {"orchestration": {"plugins": ["tests.generation.test_flow_diffusion"], "generation_timeout_s": 900}}
    settings_file.write_text(yaml.safe_dump({"engines": engines, **plugins}), encoding="utf-8")

    runs, qc_tables = [], []
    for name in ("a", "b"):
        out = tmp_path / name
        summary, _ = run_flow(
            catalog=str(one_photo_catalog),
            out=str(out),
            settings_file=str(settings_file),
            presets_file=str(presets_file),
            full=True,
        )
        runs.append({(r.sku, r.preset): r for r in manifest_rows(out, summary["run_id"])})
        qc_tables.append(pd.read_parquet(out / "runs" / summary["run_id"] / "qc.parquet"))

    first, second = runs
    assert {preset for _, preset in first} == {f"clip-{v}" for v in VARIANTS}
    for key, row in first.items():
        variant = row.preset.removeprefix("clip-")
        # noise never passes the default gate, and a rejected clip is an outcome, not a failure
        assert row.status == "rejected", (key, row.status, row.reason)
        assert any(check in row.reason for check in CHECKS), (key, row.reason)
        assert row.engine == engine_of(variant) and row.params["engine"] == tiny_engine_name(variant)
        for field in ("model", "weights_fingerprint", "dtype", "steps", "guidance", "seed", "fit", "licence"):
            assert field in row.params, (key, field)
        # A failure a gentler take can fix (REGENERATE_CHECKS) is asked for less once more (max_attempts 2), and
        # the second attempt changes more than the seed; any other failure (e.g. motion) is rejected at once.
        tries = row.params.get("attempts") or []
        assert row.attempts in (1, 2) and len(tries) in (0, row.attempts), (key, row.attempts)
        if row.attempts == 2:
            assert [a["motion_scale"] for a in tries] == [1.0, 0.5] and not any(a["passed"] for a in tries)
            assert set(tries[0]["failed_checks"]) & REGENERATE_CHECKS and tries[0]["seed"] != tries[1]["seed"]
            assert tries[0]["controls"] != tries[1]["controls"], key
        # Same inputs, same seeds: the second run reached the same verdict on the same clips.
        again = second[key]
        assert (again.status, again.reason, again.key, again.seed) == (row.status, row.reason, row.key, row.seed)
        assert (again.params.get("attempts") or []) == tries and again.qc == row.qc, key
    columns = ["sku", "preset", "attempt", "passed"]
    assert qc_tables[0][columns].sort_values(columns[:3]).values.tolist() == (
        qc_tables[1][columns].sort_values(columns[:3]).values.tolist()
    )
    assert not qc_tables[0]["passed"].any()
