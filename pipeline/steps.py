"""The per-batch stage steps the Prefect tasks wrap: fetch, generate, check, publish.

Each takes and returns a list of ItemState (references only). One item's failure never fails its
neighbours: a PermanentError becomes that item's outcome; a TransientError is retried for that item
with exponential backoff and jitter, then becomes `failed`. A failure of the whole batch (e.g. the
engine cannot be built) is raised so the task's own retry policy applies.
"""

from __future__ import annotations

import importlib
import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from catalog_connectors.intake import fetch_photo
from catalog_connectors.models import FetchedPhoto
from catalog_motion.errors import ConfigError, PermanentError, TransientError, is_environment_error
from catalog_motion.media import MASTER_SUFFIX, pick_master_format, raw_master_bytes
from catalog_motion.paths import safe_segment, within
from catalog_motion.planning import UNCHANGED, key_item, preset_fingerprint
from catalog_motion.types import ClipRef, QCReport
from generation.base import GenerationRequest
from generation.registry import get_engine
from pipeline.calls import GenerationTimeout, call_with_retries, call_with_timeout, failure_text
from pipeline.outputs import sink_for
from pipeline.state import ItemState, RunContext
from publishing.encode import encode_variants
from publishing.publish import publish_variant
from quality.gate import check_clip, check_encoded
from quality.report import ReportEntry, build_report
from quality.review import add_to_review_queue
from quality.table import qc_rows
from quality.verdict import judge

_REPORT_LOCK = threading.Lock()


def _item_dir(ctx: RunContext, area: str, state: ItemState) -> Path:
    return within(ctx.work / area, safe_segment(state.item.sku), safe_segment(state.item.preset))


def _remove_master(ctx: RunContext, state: ItemState) -> None:
    if ctx.settings.orchestration.keep_masters:
        return
    shutil.rmtree(_item_dir(ctx, "masters", state), ignore_errors=True)


def _mark(states: list[ItemState]) -> None:
    for state in states:
        state.mark_worker()


def load_plugins(ctx: RunContext) -> None:
    """Import the configured plugin modules (idempotent) so custom engines are registered here too."""
    for module in ctx.settings.orchestration.plugins:
        importlib.import_module(module)


def engine_identity(ctx: RunContext, engine: str) -> str:
    return get_engine(engine, ctx.settings.engines.get(engine) or {}).identity()


def fetch_batch(states: list[ItemState], ctx: RunContext) -> list[ItemState]:
    """Fetch and normalise each item's photo (`intake.download_concurrency` at once), give the item its
    content key and skip it when unchanged since the latest published manifest."""
    load_plugins(ctx)
    _mark(states)
    pending = [state for state in states if not state.done]
    if not pending:
        return states
    workers = max(1, min(ctx.settings.intake.download_concurrency, len(pending)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
        photos = list(pool.map(lambda state: _fetch_one(state, ctx), pending))
    identities: dict[str, str] = {}
    fingerprints: dict[str, str] = {}
    for state, photo in zip(pending, photos, strict=True):
        if photo is None:
            continue
        item = state.item
        item.source_path = str(photo.path)
        if item.engine not in identities:
            identities[item.engine] = engine_identity(ctx, item.engine)
        if item.preset not in fingerprints:
            fingerprints[item.preset] = preset_fingerprint(ctx.presets[item.preset])
        unchanged = key_item(
            item,
            photo.sha256,
            fingerprints[item.preset],
            identities[item.engine],
            previous=state.previous,
            full=ctx.full,
        )
        if unchanged:
            state.finish("skipped", UNCHANGED)
    return states


def _fetch_one(state: ItemState, ctx: RunContext) -> FetchedPhoto | None:
    """The item's photo, or None once the item has its outcome (why the photo could not be had)."""
    item, preset = state.item, ctx.presets[state.item.preset]
    base_dir = Path(ctx.catalog_dir) if ctx.catalog_dir else None
    started = time.perf_counter()
    try:
        return call_with_retries(
            lambda: fetch_photo(
                item.image, ctx.work / "photos", ctx.settings.intake, background=preset.background, base_dir=base_dir
            ),
            ctx.settings.orchestration,
        )
    except PermanentError as exc:
        state.finish("invalid", failure_text(exc))
    except ConfigError as exc:  # the run's settings, not the photo (e.g. an unreadable intake.ca_bundle)
        state.finish("failed", f"photo fetch not possible: {failure_text(exc)}")
    except TransientError as exc:
        state.finish("failed", f"photo fetch kept failing: {failure_text(exc)}")
    except Exception as exc:  # noqa: BLE001 - a connector bug must not sink the batch
        if is_environment_error(exc):  # e.g. the work folder is full: not the photo's fault
            state.finish("failed", f"photo could not be stored in the work folder: {failure_text(exc)}")
        else:
            state.finish("invalid", f"photo could not be read: {failure_text(exc)}")
    finally:
        state.add_time("fetch", time.perf_counter() - started)
    return None


def generate_batch(states: list[ItemState], ctx: RunContext) -> list[ItemState]:
    """Render a master clip for every pending item (first attempt or an ask-for-less retry)."""
    _mark(states)
    pending = [s for s in states if not s.done and (s.clip is None or s.regenerate)]
    if not pending:
        return states
    load_plugins(ctx)
    # A master finished before a crash (marker written after the engine returned) is reused, so a
    # resumed run never generates the same (item, attempt) twice.
    fresh = []
    for state in pending:
        reused = _reuse_master(ctx, state)
        if reused is None:
            fresh.append(state)
        else:
            state.clip = reused
            state.regenerate = False
    pending = fresh
    if not pending:
        return states
    engine_name = pending[0].item.engine
    # Raised EngineError/TransientError here fails the task: Prefect's retry policy decides.
    engine = get_engine(engine_name, ctx.settings.engines.get(engine_name) or {})
    suffix = _master_suffix(ctx, pending)
    requests = []
    for state in pending:
        out_dir = _item_dir(ctx, "masters", state)
        out_dir.mkdir(parents=True, exist_ok=True)
        requests.append(
            GenerationRequest(
                source_path=state.item.source_path,
                preset=ctx.presets[state.item.preset],
                seed=state.item.seed,
                out_path=str(out_dir / f"attempt-{state.item.attempt}{suffix}"),
                attempt=state.item.attempt,
                motion_scale=min(1.0, state.motion_scale),
                duration_scale=min(1.0, state.duration_scale),
            )
        )
    started = time.perf_counter()
    timeout = ctx.settings.orchestration.generation_timeout_s
    try:
        results = call_with_timeout(
            lambda: engine.generate_batch(requests), timeout * len(requests) if timeout else None
        )
    except GenerationTimeout as exc:
        results = [exc] * len(requests)
    share = (time.perf_counter() - started) / len(pending)
    for state, request, result in zip(pending, requests, results, strict=True):
        state.add_time("generate", share)
        if isinstance(result, TransientError):
            try:
                result = call_with_retries(lambda r=request: engine.generate(r), ctx.settings.orchestration)
            except Exception as exc:  # noqa: BLE001 - recorded below
                result = exc
        if isinstance(result, BaseException):
            state.finish("failed", f"generation failed: {failure_text(result)}")
            _remove_master(ctx, state)
            continue
        state.clip = result
        state.regenerate = False
        _write_marker(request.out_path, state, result)
    return states


def _master_suffix(ctx: RunContext, pending: list[ItemState]) -> str:
    """File suffix (= format) of this batch's masters: the setting, or for `auto` what the disk has room for."""
    need = 0
    for state in pending:
        preset = ctx.presets[state.item.preset]
        frames = max(1, round(preset.n_frames * min(1.0, state.duration_scale)))
        need += raw_master_bytes(preset.width, preset.height, frames)
    ctx.work.mkdir(parents=True, exist_ok=True)
    chosen = pick_master_format(ctx.settings.orchestration.master_format, need, shutil.disk_usage(ctx.work).free)
    return MASTER_SUFFIX[chosen]


def _marker_path(master_path: str | Path) -> Path:
    return Path(master_path).with_suffix(".clip.json")


def _write_marker(master_path: str, state: ItemState, clip: ClipRef) -> None:
    marker = _marker_path(master_path)
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "key": state.item.key,
                "attempt": state.item.attempt,
                "seed": state.item.seed,
                "clip": clip.model_dump(mode="json"),
            }
        ),
        encoding="utf-8",
    )
    tmp.replace(marker)  # atomic: a marker is either complete or absent


def _reuse_master(ctx: RunContext, state: ItemState) -> ClipRef | None:
    # One marker per attempt whatever the master's format (auto may pick another one this run); it names
    # the master's path.
    marker = _marker_path(_item_dir(ctx, "masters", state) / f"attempt-{state.item.attempt}.master")
    if not marker.exists() or state.item.key is None:
        return None
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        clip = ClipRef.model_validate(data["clip"])
    except (OSError, ValueError, KeyError):
        return None
    same = data.get("key") == state.item.key and data.get("attempt") == state.item.attempt
    return clip if same and data.get("seed") == state.item.seed and Path(clip.path).exists() else None


def check_batch(states: list[ItemState], ctx: RunContext) -> list[ItemState]:
    """QC every fresh clip; failing ones are marked for ask-for-less or rejected to the review queue."""
    _mark(states)
    for state in states:
        if state.done or state.clip is None or state.regenerate or state.checked_attempt == state.item.attempt:
            continue
        preset = ctx.presets[state.item.preset]
        state.checked_attempt = state.item.attempt
        started = time.perf_counter()
        try:
            report = check_clip(state.item.source_path, state.clip.path, preset, expected_frames=state.clip.n_frames)
        except Exception as exc:  # noqa: BLE001 - an unreadable clip is an item failure
            state.finish("failed", f"quality check failed to run: {failure_text(exc)}")
            _remove_master(ctx, state)
            continue
        finally:
            state.add_time("check", time.perf_counter() - started)
        _record_qc(ctx, state, report)
        state.record_qc(report)
        state.apply_verdict(
            judge(report, preset.ask_for_less, state.attempt, sku=state.item.sku, preset=state.item.preset)
        )
        if state.status == "rejected":
            try:
                add_to_review_queue(
                    ctx.review_root,
                    sku=state.item.sku,
                    preset=state.item.preset,
                    source_path=state.item.source_path,
                    clip_path=state.clip.path,
                    report=report,
                )
            except Exception as exc:  # noqa: BLE001 - the outcome stands; say the queue entry is missing
                state.reason += f" (review queue entry not written: {failure_text(exc)})"
            _remove_master(ctx, state)
    return states


def _record_qc(ctx: RunContext, state: ItemState, report: QCReport) -> None:
    """Keep this attempt's QC-table row and render its report material (filmstrip, curves) now,
    while the master clip still exists (masters are deleted once published or rejected)."""
    item = state.item
    clip_dir = report_clip_dir(ctx, item.sku, item.preset, item.attempt)
    identity = {
        "sku": item.sku,
        "skus": ",".join(item.skus or [item.sku]),
        "preset": item.preset,
        "attempt": item.attempt,
        "engine": item.engine,
        "seed": item.seed,
        "key": item.key or "",
        "clip": str(state.clip.path),
        "report": str(clip_dir / "index.html"),
    }
    state.qc_rows.extend(qc_rows([(identity, report)]))
    started = time.perf_counter()
    try:
        max_drift = getattr(ctx.presets[item.preset].qc, "max_subject_drift", None)
        with _REPORT_LOCK:  # matplotlib's pyplot keeps global state: one figure at a time per process
            build_report(
                [
                    ReportEntry(
                        sku=item.sku,
                        preset=item.preset,
                        source_path=item.source_path,
                        clip_path=state.clip.path,
                        report=report,
                        attempt=item.attempt,
                    )
                ],
                clip_dir,
                title=f"{item.sku} {item.preset} attempt {item.attempt}",
                thresholds={"max_subject_drift": max_drift} if max_drift is not None else None,
            )
    except Exception as exc:  # noqa: BLE001 - a report picture must never change an item's outcome
        state.qc_rows[-1]["report"] = f"not written: {failure_text(exc)}"
    finally:
        state.add_time("qc_report", time.perf_counter() - started)


def report_clip_dir(ctx: RunContext, sku: str, preset: str, attempt: int) -> Path:
    return within(ctx.qc_report_root / "clips", f"{safe_segment(sku)}--{safe_segment(preset)}--{attempt}")


def publish_batch(states: list[ItemState], ctx: RunContext) -> list[ItemState]:
    """Encode every passed clip, check the encodes' conformance and store them for each of its SKUs."""
    _mark(states)
    sink = None
    for state in states:
        if state.done or state.clip is None or state.regenerate:
            continue
        preset = ctx.presets[state.item.preset]
        enc_dir = _item_dir(ctx, "encodes", state)
        started = time.perf_counter()
        try:
            local_assets = encode_variants(state.clip, preset, enc_dir)
        except Exception as exc:  # noqa: BLE001
            state.finish("failed", f"encoding failed: {failure_text(exc)}")
            _remove_master(ctx, state)
            continue
        finally:
            state.add_time("encode", time.perf_counter() - started)
        problems = []
        for asset in local_assets:
            if asset.kind.startswith("video"):
                try:
                    verdict = check_encoded(asset.path, preset, expected_frames=state.clip.n_frames)
                except Exception as exc:  # noqa: BLE001 - an unreadable encode is a failed item
                    problems.append(f"{Path(asset.path).name}: {failure_text(exc)}")
                    continue
                if not verdict.passed:
                    problems.append(f"{Path(asset.path).name}: {'; '.join(verdict.reasons)}")
        if problems:
            state.finish("failed", "encode not conformant: " + " | ".join(problems))
            _remove_master(ctx, state)
            continue
        started = time.perf_counter()
        try:
            sink = sink or sink_for(ctx.settings.sink)
            metadata = {
                "preset": preset.name,
                "engine": state.item.engine,
                "seed": str(state.item.seed),
                "run": ctx.run_id,
                **{f"qc-{k}": f"{v:.4g}" for k, v in (state.qc.scores if state.qc else {}).items()},
            }
            skus = state.item.skus or [state.item.sku]
            for sku in skus:
                # Each SKU sharing the photo publishes on its own: one SKU's failure is that SKU's outcome.
                try:
                    state.assets[sku] = call_with_retries(
                        lambda s=sku: publish_variant(
                            sku=s, preset=preset.name, assets=local_assets, sink=sink, metadata={**metadata, "sku": s}
                        ),
                        ctx.settings.orchestration,
                    )
                except Exception as exc:  # noqa: BLE001 - recorded for this SKU
                    state.sku_failures[sku] = f"publishing failed: {failure_text(exc)}"
            if len(state.sku_failures) == len(skus):
                state.finish("failed", state.sku_failures[skus[0]])
            else:
                state.finish("published")
        except Exception as exc:  # noqa: BLE001 - e.g. the sink cannot be built
            state.assets.clear()
            state.finish("failed", f"publishing failed: {failure_text(exc)}")
        finally:
            state.add_time("publish", time.perf_counter() - started)
            shutil.rmtree(enc_dir, ignore_errors=True)
            _remove_master(ctx, state)
    return states
