"""The per-batch stage steps the Prefect tasks wrap: fetch, generate, check, publish.

Each takes and returns a list of ItemState (references only). One item's failure never fails its
neighbours: every piece of per-item work runs inside `calls.item_failure`, so any exception becomes that
item's outcome (a TransientError is first retried for that item with exponential backoff and jitter).
Work for the whole batch (loading plugins, building the engine) runs inside `calls.batch_failure`: a
TransientError is raised so the task's own retry policy applies (as is one of an engine's whole-batch
call); anything else becomes the outcome of each item still without one and the step returns normally
(items with an outcome keep it). The steps raise nothing else.
QC, encoding and publishing each have a time limit (orchestration.check_timeout_s, encode_timeout_s,
publish_timeout_s), generation one per clip scaled by the preset (`calls.generation_timeout`).
"""

from __future__ import annotations

import importlib
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from catalog_connectors.intake import fetch_photo
from catalog_connectors.models import FetchedPhoto
from catalog_motion.errors import ConfigError, EngineError, PermanentError, TransientError, is_environment_error
from catalog_motion.media import MASTER_SUFFIX, pick_master_format, raw_master_bytes
from catalog_motion.paths import safe_segment, within
from catalog_motion.planning import UNCHANGED, key_item, preset_fingerprint
from catalog_motion.presets import Preset
from catalog_motion.settings import OrchestrationSettings
from catalog_motion.types import ClipRef, QCReport
from generation.base import Engine, GenerationRequest
from generation.registry import engine_identity as registry_engine_identity
from generation.registry import get_engine
from pipeline.calls import (
    StageTimeout,
    batch_failure,
    call_with_retries,
    call_with_timeout,
    failure_reason,
    failure_text,
    generation_timeout,
    generation_timeout_setting,
    item_failure,
    timeout_text,
)
from pipeline.outputs import sink_for
from pipeline.state import ItemState, RunContext
from publishing.encode import EncodeTimeout, LocalAsset, encode_variants
from publishing.publish import publish_variant
from publishing.sinks import Sink
from quality.delivered import check_delivered
from quality.evidence import WorkFrames
from quality.gate import check_clip_with_frames
from quality.report import ReportEntry, write_clip_material
from quality.review import add_to_review_queue
from quality.table import qc_rows
from quality.verdict import judge


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


def build_engine(ctx: RunContext, engine: str) -> Engine:
    """The engine named `engine` with the run's settings for it, where orchestration.engine_isolation says."""
    return get_engine(
        engine, ctx.settings.engines.get(engine) or {}, isolation=ctx.settings.orchestration.engine_isolation
    )


def engine_identity(ctx: RunContext, engine: str) -> str:
    """The engine's identity for the content key, from its settings: the diffusion engines load no model
    here (a CPU fetch worker keys items for GPU generation workers)."""
    return registry_engine_identity(
        engine, ctx.settings.engines.get(engine) or {}, isolation=ctx.settings.orchestration.engine_isolation
    )


def fetch_batch(states: list[ItemState], ctx: RunContext) -> list[ItemState]:
    """Fetch and normalise each item's photo (`intake.download_concurrency` at once), give the item its
    content key and skip it when unchanged since the latest published manifest."""
    _mark(states)
    pending = [state for state in states if not state.done]
    with batch_failure(pending, "fetch failed"):
        load_plugins(ctx)
    pending = [state for state in pending if not state.done]
    if not pending:
        return states
    workers = max(1, min(ctx.settings.intake.download_concurrency, len(pending)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
        photos = list(pool.map(lambda state: _fetch_one(state, ctx), pending))
    # Only successes are cached: an engine whose identity failed is asked again for the next item.
    identities: dict[str, str] = {}
    fingerprints: dict[str, str] = {}
    for state, photo in zip(pending, photos, strict=True):
        if photo is not None:
            with item_failure(state, "fetch failed"):
                _key_one(ctx, state, photo, identities, fingerprints)
    return states


def _key_one(
    ctx: RunContext, state: ItemState, photo: FetchedPhoto, identities: dict[str, str], fingerprints: dict[str, str]
) -> None:
    """Give a fetched item its content key; `skipped` when unchanged since the latest manifest."""
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


def _fetch_one(state: ItemState, ctx: RunContext) -> FetchedPhoto | None:
    """The item's photo, or None once the item has its outcome (why the photo could not be had)."""
    with item_failure(state, "photo fetch failed"):
        return _fetch_photo(state, ctx)
    return None


def _fetch_photo(state: ItemState, ctx: RunContext) -> FetchedPhoto | None:
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
    with batch_failure(pending, "generation failed"):
        load_plugins(ctx)
    # A master finished before a crash (marker written after the engine returned) is reused, so a
    # resumed run never generates the same (item, attempt) twice.
    fresh = []
    for state in pending:
        if state.done:
            continue
        with item_failure(state, "generation failed"):
            reused = _reuse_master(ctx, state)
            if reused is None:
                fresh.append(state)
            else:
                state.clip = reused
                state.regenerate = False
    if not fresh:
        return states
    engine: Engine | None = None
    suffix = ""
    # A TransientError here fails the task (Prefect's retry policy decides); anything else fails the items.
    with batch_failure(fresh, "generation failed"):
        engine = build_engine(ctx, fresh[0].item.engine)
        suffix = _master_suffix(ctx, fresh)
    if engine is None or all(state.done for state in fresh):
        return states
    jobs: list[tuple[ItemState, GenerationRequest]] = []
    for state in fresh:
        with item_failure(state, "generation failed"):
            jobs.append((state, _generation_request(ctx, state, suffix)))
    if not jobs:
        return states
    orch = ctx.settings.orchestration
    started = time.perf_counter()
    results = _generate_all(engine, [request for _, request in jobs], orch)
    share = (time.perf_counter() - started) / len(jobs)
    for (state, request), result in zip(jobs, results, strict=True):
        state.add_time("generate", share)
        with item_failure(state, "generation failed", cleanup=lambda s=state: _remove_master(ctx, s)):
            if isinstance(result, TransientError):
                result = call_with_retries(lambda r=request: _generate_one(engine, r, orch), orch)
            if isinstance(result, BaseException):
                raise result
            state.clip = result
            state.regenerate = False
            _write_marker(request.out_path, state, result)
    return states


def _generation_request(ctx: RunContext, state: ItemState, suffix: str) -> GenerationRequest:
    preset = ctx.presets[state.item.preset]
    out_dir = _item_dir(ctx, "masters", state)
    out_dir.mkdir(parents=True, exist_ok=True)
    duration_scale = min(1.0, state.duration_scale)
    return GenerationRequest(
        source_path=state.item.source_path,
        preset=preset,
        seed=state.item.seed,
        out_path=str(out_dir / f"attempt-{state.item.attempt}{suffix}"),
        attempt=state.item.attempt,
        motion_scale=min(1.0, state.motion_scale),
        duration_scale=duration_scale,
        timeout_s=generation_timeout(ctx.settings.orchestration, preset, duration_scale),
    )


def _generate_all(
    engine: Engine, requests: list[GenerationRequest], orch: OrchestrationSettings
) -> list[ClipRef | BaseException]:
    """One result per request, in order: its clip or its exception.

    An engine that enforces each request's `timeout_s` itself (it runs in a worker process it kills past
    it) is called directly. Any other runs in a thread given the requests' summed limits; past that the
    call is abandoned in its thread (Python code cannot be stopped from outside) and every item of the
    batch times out. A TransientError of the whole call (e.g. CUDA out of memory for the batch) is raised,
    so the task's retry policy runs the batch again; any other whole-batch exception is each item's result."""
    try:
        if getattr(engine, "enforces_timeouts", False):
            results = engine.generate_batch(requests)
        else:
            total = sum(request.timeout_s or 0.0 for request in requests)
            results = call_with_timeout(
                lambda: engine.generate_batch(requests),
                total or None,
                stage="generation",
                setting=generation_timeout_setting(orch),
            )
    except TransientError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded per item by the caller
        return [exc] * len(requests)
    if len(results) != len(requests):
        error = EngineError(f"engine returned {len(results)} results for {len(requests)} requests")
        return [error] * len(requests)
    return list(results)


def _generate_one(engine: Engine, request: GenerationRequest, orch: OrchestrationSettings) -> ClipRef:
    """One clip again (the retry of a TransientError), within the request's own time limit."""
    if getattr(engine, "enforces_timeouts", False):
        return engine.generate(request)
    return call_with_timeout(
        lambda: engine.generate(request),
        request.timeout_s,
        stage="generation",
        setting=generation_timeout_setting(orch),
    )


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
    # Every step loads the plugins: with a process pool any worker may run any stage first.
    with batch_failure([s for s in states if not s.done], "quality check failed to run"):
        load_plugins(ctx)
    for state in states:
        if state.done or state.clip is None or state.regenerate or state.checked_attempt == state.item.attempt:
            continue
        with item_failure(state, "quality check failed to run", cleanup=lambda s=state: _remove_master(ctx, s)):
            _check_one(ctx, state)
    return states


def _check_one(ctx: RunContext, state: ItemState) -> None:
    """QC one clip (within orchestration.check_timeout_s), keep its QC row and act on the verdict."""
    assert state.clip is not None
    clip = state.clip
    preset = ctx.presets[state.item.preset]
    state.checked_attempt = state.item.attempt
    orch = ctx.settings.orchestration
    started = time.perf_counter()
    try:
        report, frames = call_with_timeout(
            lambda: check_clip_with_frames(state.item.source_path, clip.path, preset, expected_frames=clip.n_frames),
            orch.check_timeout_s,
            stage="quality check",
            setting="check_timeout_s",
        )
    finally:
        state.add_time("check", time.perf_counter() - started)
    _record_qc(ctx, state, report, frames)
    del frames  # the work-size frames served the report's filmstrip and preview; free them before publishing
    state.record_qc(report)
    verdict = judge(
        report,
        preset.ask_for_less,
        state.attempt,
        sku=state.item.sku,
        preset=state.item.preset,
        margin=preset.qc.borderline_margin,
        review=preset.review,
    )
    # A held (borderline) clip is `rejected` until a person approves it (pipeline/review.py publishes it then).
    if verdict.decision == "hold":
        state.finish("rejected", verdict.reason)
    else:
        state.apply_verdict(verdict)
    if state.status == "rejected":
        try:
            add_to_review_queue(
                ctx.review_root,
                sku=state.item.sku,
                preset=state.item.preset,
                source_path=state.item.source_path,
                clip_path=clip.path,
                report=report,
                run_id=ctx.run_id,
                kind="held" if verdict.decision == "hold" else "rejected",
                item=review_item(state),
                reason=verdict.reason if verdict.decision == "hold" else None,
            )
        except Exception as exc:  # noqa: BLE001 - the outcome stands; say the queue entry is missing
            state.reason += f" (review queue entry not written: {failure_text(exc)})"
        _remove_master(ctx, state)


def review_item(state: ItemState) -> dict:
    """What the review queue keeps of an item so a reviewer's decision can publish or regenerate it."""
    assert state.clip is not None
    return {
        "item": state.item.model_dump(mode="json"),
        "clip": state.clip.model_dump(mode="json"),
        "motion_scale": state.motion_scale,
        "duration_scale": state.duration_scale,
        "timings": dict(state.timings),
    }


def _record_qc(ctx: RunContext, state: ItemState, report: QCReport, frames: WorkFrames | None = None) -> None:
    """Keep this attempt's QC-table row and write its report material (filmstrip, preview, QC data) now,
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
        write_clip_material(
            ReportEntry(
                sku=item.sku,
                preset=item.preset,
                source_path=item.source_path,
                clip_path=state.clip.path,
                report=report,
                attempt=item.attempt,
                borderline_margin=ctx.presets[item.preset].qc.borderline_margin,
            ),
            clip_dir,
            frames,
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
    with batch_failure([s for s in states if not s.done], "publishing failed"):
        load_plugins(ctx)
    sinks: dict[str, Sink] = {}  # the batch's sink, built on first use
    for state in states:
        if state.done or state.clip is None or state.regenerate:
            continue
        with item_failure(state, "publishing failed", cleanup=lambda s=state: _remove_master(ctx, s)):
            _publish_one(ctx, state, sinks)
    return states


def _publish_one(ctx: RunContext, state: ItemState, sinks: dict[str, Sink]) -> None:
    """Encode, check and store one item; its encodes and master are removed whatever the outcome."""
    preset = ctx.presets[state.item.preset]
    enc_dir = _item_dir(ctx, "encodes", state)
    try:
        local_assets: list[LocalAsset] | None = None
        with item_failure(state, "encoding failed"):
            local_assets = _encode(ctx, state, preset, enc_dir)
        if local_assets is None:
            return
        with item_failure(state, "encode not conformant"):
            problems = _conformance_problems(state, preset, local_assets)
            if problems:
                state.finish("failed", "encode not conformant: " + " | ".join(problems))
        if state.done:
            return
        with item_failure(state, "publishing failed", cleanup=state.assets.clear):
            _store(ctx, state, preset, local_assets, sinks)
    finally:
        shutil.rmtree(enc_dir, ignore_errors=True)
        _remove_master(ctx, state)


def _encode(ctx: RunContext, state: ItemState, preset: Preset, enc_dir: Path) -> list[LocalAsset]:
    """The item's delivery encodes; ffmpeg is killed past orchestration.encode_timeout_s."""
    assert state.clip is not None
    limit = ctx.settings.orchestration.encode_timeout_s
    started = time.perf_counter()
    try:
        return encode_variants(state.clip, preset, enc_dir, timeout_s=limit)
    except EncodeTimeout as exc:
        raise StageTimeout(timeout_text("encoding", limit, "encode_timeout_s")) from exc
    finally:
        state.add_time("encode", time.perf_counter() - started)


def _conformance_problems(state: ItemState, preset: Preset, local_assets: list[LocalAsset]) -> list[str]:
    """What is wrong with the video encodes (an unreadable one included): the container and the pictures
    against the master the gate passed (quality.delivered); empty when every encode is fit to publish."""
    assert state.clip is not None
    problems = []
    for asset in local_assets:
        if asset.kind.startswith("video"):  # mp4 and webm alike
            try:
                verdict = check_delivered(asset.path, state.clip.path, preset, expected_frames=state.clip.n_frames)
            except Exception as exc:  # noqa: BLE001 - an unreadable encode is a failed item
                problems.append(f"{Path(asset.path).name}: {failure_text(exc)}")
                continue
            if not verdict.passed:
                problems.append(f"{Path(asset.path).name}: {'; '.join(verdict.reasons)}")
    return problems


def publish_metadata(ctx: RunContext, state: ItemState, preset: Preset) -> dict[str, str]:
    """Object metadata of the item's stored files (provenance and QC scores)."""
    return {
        "preset": preset.name,
        "engine": state.item.engine,
        "seed": str(state.item.seed),
        "run": ctx.run_id,
        **{f"qc-{k}": f"{v:.4g}" for k, v in (state.qc.scores if state.qc else {}).items()},
    }


def _store(
    ctx: RunContext, state: ItemState, preset: Preset, local_assets: list[LocalAsset], sinks: dict[str, Sink]
) -> None:
    """Store the encodes for each SKU sharing the photo, each within orchestration.publish_timeout_s."""
    orch = ctx.settings.orchestration
    # Receipts let the run adopt what a task stored if its worker dies before reporting. A thread cannot die
    # without the flow process (whose resumed run republishes the same keys), so threads skip the extra put.
    receipts = orch.task_runner != "threads"
    started = time.perf_counter()
    try:
        if "sink" not in sinks:
            sinks["sink"] = sink_for(ctx.settings.sink)
        sink = sinks["sink"]
        metadata = publish_metadata(ctx, state, preset)
        skus = state.item.skus or [state.item.sku]
        for sku in skus:
            # Each SKU sharing the photo publishes on its own: one SKU's failure is that SKU's outcome. The
            # limit spans the SKU's retries; a timed-out store is abandoned in its thread (its objects, if
            # it ever finishes, are named by no manifest row: the orphan sweep removes them).
            try:
                state.assets[sku] = call_with_timeout(
                    lambda s=sku: call_with_retries(
                        lambda: publish_variant(
                            sku=s,
                            preset=preset.name,
                            assets=local_assets,
                            sink=sink,
                            metadata={**metadata, "sku": s},
                            run_id=ctx.run_id if receipts else None,
                            key=state.item.key,
                        ),
                        orch,
                    ),
                    orch.publish_timeout_s,
                    stage="publishing",
                    setting="publish_timeout_s",
                )
            except Exception as exc:  # noqa: BLE001 - recorded for this SKU
                state.sku_failures[sku] = failure_reason("publishing failed", exc)
        if len(state.sku_failures) == len(skus):
            state.assets.clear()
            state.finish("failed", state.sku_failures[skus[0]])
        else:
            state.finish("published")
    finally:
        state.add_time("publish", time.perf_counter() - started)
