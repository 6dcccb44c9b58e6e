"""The per-batch stage functions the Prefect tasks wrap: fetch, generate, check, publish.

Each takes and returns a list of ItemState (references only). One item's failure never fails its
neighbours: a PermanentError becomes that item's outcome; a TransientError is retried for that item
with exponential backoff and jitter, then becomes `failed`. A failure of the whole batch (e.g. the
engine cannot be built) is raised so the task's own retry policy applies.
"""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from catalog_motion.errors import ConfigError, PermanentError, TransientError, is_environment_error
from catalog_motion.media import MASTER_SUFFIX, pick_master_format, raw_master_bytes
from catalog_motion.paths import safe_segment, within
from tasks import stage_api
from tasks.context import ItemState, RunContext
from catalog_motion.planning import content_key, is_standing
from tasks.items import apply_verdict

T = TypeVar("T")
_REPORT_LOCK = threading.Lock()


class GenerationTimeout(PermanentError):
    """An engine call ran past OrchestrationSettings.generation_timeout_s (not retried: it would hang again)."""


def call_with_timeout(fn: Callable[[], T], seconds: float | None) -> T:
    """`fn()`, or GenerationTimeout after `seconds`; the call keeps running in an abandoned daemon thread."""
    if not seconds:
        return fn()
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True, name="generate-with-timeout")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise GenerationTimeout(f"timed out after {seconds:g} s (orchestration.generation_timeout_s)")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def backoff_delays(retries: int, first: float, jitter: float, rng: random.Random | None = None) -> list[float]:
    """Exponential delays first, 2*first, 4*first... each stretched by up to `jitter` at random."""
    rng = rng or random.Random()
    return [first * (2**n) * (1.0 + jitter * rng.random()) for n in range(retries)]


def call_with_retries(fn: Callable[[], T], ctx: RunContext) -> T:
    """Run `fn`, retrying TransientError with backoff; anything else propagates at once."""
    orch = ctx.settings.orchestration
    for delay in [*backoff_delays(orch.retries, orch.retry_delay_s, orch.retry_jitter_factor), None]:
        try:
            return fn()
        except TransientError:
            if delay is None:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, PermanentError | TransientError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
    import importlib

    for module in ctx.settings.orchestration.plugins:
        importlib.import_module(module)


def engine_identity(ctx: RunContext, engine: str) -> str:
    return stage_api.get_engine(engine, ctx.settings.engines.get(engine)).identity()


def fetch_batch(states: list[ItemState], ctx: RunContext) -> list[ItemState]:
    """Fetch and normalise each item's photo, compute its content key, skip unchanged items."""
    load_plugins(ctx)
    _mark(states)
    photos = ctx.work / "photos"
    base_dir = Path(ctx.catalog_dir) if ctx.catalog_dir else None
    identities: dict[str, str] = {}
    for state in states:
        if state.done:
            continue
        item, preset = state.item, ctx.presets[state.item.preset]
        started = time.perf_counter()
        try:
            photo = call_with_retries(
                lambda: stage_api.fetch_photo(
                    item.image, photos, ctx.settings.intake, background=preset.background, base_dir=base_dir
                ),
                ctx,
            )
        except PermanentError as exc:
            state.finish("invalid", _describe(exc))
            continue
        except ConfigError as exc:  # the run's settings, not the photo (e.g. an unreadable intake.ca_bundle)
            state.finish("failed", f"photo fetch not possible: {_describe(exc)}")
            continue
        except TransientError as exc:
            state.finish("failed", f"photo fetch kept failing: {_describe(exc)}")
            continue
        except Exception as exc:  # noqa: BLE001 - a connector bug must not sink the batch
            if is_environment_error(exc):  # e.g. the work folder is full: not the photo's fault
                state.finish("failed", f"photo could not be stored in the work folder: {_describe(exc)}")
            else:
                state.finish("invalid", f"photo could not be read: {_describe(exc)}")
            continue
        finally:
            state.add_time("fetch", time.perf_counter() - started)
        item.source_path = str(photo.path)
        item.source_sha256 = photo.sha256
        if item.engine not in identities:
            identities[item.engine] = engine_identity(ctx, item.engine)
        # Phase 2 of catalog_motion.planning, per item: content key, then skip if unchanged.
        item.key = content_key(photo.sha256, preset, identities[item.engine])
        previous = {row.sku: row for row in state.previous}
        if not ctx.full and all(is_standing(previous.get(sku), item.key) for sku in item.skus):
            state.finish("skipped", "unchanged since the last published manifest")
    return states


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
    engine = stage_api.get_engine(engine_name, ctx.settings.engines.get(engine_name))
    suffix = _master_suffix(ctx, pending)
    requests = []
    for state in pending:
        out_dir = _item_dir(ctx, "masters", state)
        out_dir.mkdir(parents=True, exist_ok=True)
        requests.append(
            stage_api.generation_request(
                source_path=state.item.source_path, preset=ctx.presets[state.item.preset], seed=state.item.seed,
                out_path=str(out_dir / f"attempt-{state.item.attempt}{suffix}"), attempt=state.item.attempt,
                motion_scale=min(1.0, state.motion_scale), duration_scale=min(1.0, state.duration_scale),
            )
        )
    started = time.perf_counter()
    timeout = ctx.settings.orchestration.generation_timeout_s
    try:
        results = call_with_timeout(lambda: engine.generate_batch(requests),
                                    timeout * len(requests) if timeout else None)
    except GenerationTimeout as exc:
        results = [exc] * len(requests)
    share = (time.perf_counter() - started) / len(pending)
    for state, request, result in zip(pending, requests, results, strict=True):
        state.add_time("generate", share)
        if isinstance(result, TransientError):
            try:
                result = call_with_retries(lambda r=request: engine.generate(r), ctx)
            except Exception as exc:  # noqa: BLE001 - recorded below
                result = exc
        if isinstance(result, BaseException):
            state.finish("failed", f"generation failed: {_describe(result)}")
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


def _write_marker(master_path: str, state: ItemState, clip) -> None:
    marker = _marker_path(master_path)
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": state.item.key, "attempt": state.item.attempt, "seed": state.item.seed,
                               "clip": clip.model_dump(mode="json")}), encoding="utf-8")
    tmp.replace(marker)  # atomic: a marker is either complete or absent


def _reuse_master(ctx: RunContext, state: ItemState):
    from catalog_motion.types import ClipRef

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
            report = stage_api.check_clip(
                state.item.source_path, state.clip.path, preset, expected_frames=state.clip.n_frames
            )
        except Exception as exc:  # noqa: BLE001 - an unreadable clip is an item failure
            state.finish("failed", f"quality check failed to run: {_describe(exc)}")
            _remove_master(ctx, state)
            continue
        finally:
            state.add_time("check", time.perf_counter() - started)
        _record_qc(ctx, state, report)
        apply_verdict(state, report, preset)
        if state.status == "rejected":
            try:
                stage_api.add_to_review_queue(
                    ctx.review_root, sku=state.item.sku, preset=state.item.preset,
                    source_path=state.item.source_path, clip_path=state.clip.path, report=report,
                )
            except Exception as exc:  # noqa: BLE001 - the outcome stands; say the queue entry is missing
                state.reason += f" (review queue entry not written: {_describe(exc)})"
            _remove_master(ctx, state)
    return states


def _record_qc(ctx: RunContext, state: ItemState, report) -> None:
    """Keep this attempt's QC-table row and render its report material (filmstrip, curves) now,
    while the master clip still exists (masters are deleted once published or rejected)."""
    from quality.report import ReportEntry, build_report
    from quality.table import qc_rows

    item = state.item
    clip_dir = report_clip_dir(ctx, item.sku, item.preset, item.attempt)
    identity = {"sku": item.sku, "skus": ",".join(item.skus or [item.sku]), "preset": item.preset,
                "attempt": item.attempt, "engine": item.engine, "seed": item.seed, "key": item.key or "",
                "clip": str(state.clip.path), "report": str(clip_dir / "index.html")}
    state.qc_rows.extend(qc_rows([(identity, report)]))
    started = time.perf_counter()
    try:
        max_drift = getattr(ctx.presets[item.preset].qc, "max_subject_drift", None)
        with _REPORT_LOCK:  # matplotlib's pyplot keeps global state: one figure at a time per process
            build_report([ReportEntry(sku=item.sku, preset=item.preset, source_path=item.source_path,
                                      clip_path=state.clip.path, report=report, attempt=item.attempt)],
                         clip_dir, title=f"{item.sku} {item.preset} attempt {item.attempt}",
                         thresholds={"max_subject_drift": max_drift} if max_drift is not None else None)
    except Exception as exc:  # noqa: BLE001 - a report picture must never change an item's outcome
        state.qc_rows[-1]["report"] = f"not written: {_describe(exc)}"
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
            local_assets = stage_api.encode_variants(state.clip, preset, enc_dir)
        except Exception as exc:  # noqa: BLE001
            state.finish("failed", f"encoding failed: {_describe(exc)}")
            _remove_master(ctx, state)
            continue
        finally:
            state.add_time("encode", time.perf_counter() - started)
        problems = []
        for asset in local_assets:
            if asset.kind.startswith("video"):
                try:
                    verdict = stage_api.check_encoded(asset.path, preset, expected_frames=state.clip.n_frames)
                except Exception as exc:  # noqa: BLE001 - an unreadable encode is a failed item
                    problems.append(f"{Path(asset.path).name}: {_describe(exc)}")
                    continue
                if not verdict.passed:
                    problems.append(f"{Path(asset.path).name}: {'; '.join(verdict.reasons)}")
        if problems:
            state.finish("failed", "encode not conformant: " + " | ".join(problems))
            _remove_master(ctx, state)
            continue
        started = time.perf_counter()
        try:
            sink = sink or stage_api.sink_for(ctx.settings.sink)
            metadata = {
                "preset": preset.name, "engine": state.item.engine, "seed": str(state.item.seed),
                "run": ctx.run_id,
                **{f"qc-{k}": f"{v:.4g}" for k, v in (state.qc.scores if state.qc else {}).items()},
            }
            skus = state.item.skus or [state.item.sku]
            for sku in skus:
                # Each SKU sharing the photo publishes on its own: one SKU's failure is that SKU's outcome.
                try:
                    state.assets[sku] = call_with_retries(
                        lambda s=sku: stage_api.publish_assets(
                            sink, local_assets, sku=s, preset=preset.name, metadata={**metadata, "sku": s}
                        ),
                        ctx,
                    )
                except Exception as exc:  # noqa: BLE001 - recorded for this SKU
                    state.sku_failures[sku] = f"publishing failed: {_describe(exc)}"
            if len(state.sku_failures) == len(skus):
                state.finish("failed", state.sku_failures[skus[0]])
            else:
                state.finish("published")
        except Exception as exc:  # noqa: BLE001 - e.g. the sink cannot be built
            state.assets.clear()
            state.finish("failed", f"publishing failed: {_describe(exc)}")
        finally:
            state.add_time("publish", time.perf_counter() - started)
            shutil.rmtree(enc_dir, ignore_errors=True)
            _remove_master(ctx, state)
    return states
