"""Diffusers image-to-video engines behind the `Engine` interface.

One `DiffusionEngine` subclass per model family maps a preset onto that model's own controls. The
pipeline is loaded once when the engine is constructed (`get_engine` caches engines per process).

Per request: photo -> subject-centred fit to the model's native size (cover-crop for models that take
any size, padding with the studio background for fixed-size models) -> one or more chained takes ->
stitched, loop closed -> retimed to the preset fps -> resized to the delivery size (crop + Lanczos) ->
optional subject lock -> streamed into the lossless master clip.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from catalog_motion.errors import EngineError, PermanentError
from catalog_motion.images import read_photo, subject_mask
from catalog_motion.media import MasterClipWriter
from catalog_motion.presets import Preset
from catalog_motion.types import ClipRef
from generation.base import Engine, GenerationRequest
from generation.diffusion import loading
from generation.diffusion.oom import run_with_oom_policy
from generation.diffusion.settings import LICENCES, DiffusionSettings, check_licence, parse_settings
from generation.diffusion.subject_lock import SubjectLock
from generation.diffusion.timeline import Retimer, TakePlan, close_loop, plan_takes, retime_positions, stitch_takes
from generation.fit import Box, cover_crop_box, crop_resize
from generation.focus import subject_center

ENGINE_CODE_VERSION = "d2"  # bump when post-processing or the ask-for-less mapping changes the pixels


def motion_phrase(path: str, amount: float) -> str:
    """Words steering text-conditioned models toward the preset's camera path and motion amount."""
    strength = (
        "almost still, very subtle motion"
        if amount < 0.2
        else "subtle gentle motion"
        if amount < 0.5
        else "natural fluid motion"
    )
    camera = {
        "push_in": "slow camera push in",
        "pan": "slow lateral camera pan",
        "parallax_orbit": "slow camera orbit around the product",
        "breathing": "static camera",
        "static": "static camera, locked off",
    }[path]
    return f"{strength}, {camera}"


DEFAULT_NEGATIVE = (
    "distorted garment, changing pattern, warped text or logo, extra limbs, flicker, "
    "blurry, low quality, jpeg artifacts"
)
CALM_NEGATIVE = "fast motion, camera shake, morphing, fabric deforming"  # added when asking for less
PIXEL_NEUTRAL = {"weights", "revision", "device", "offload", "max_batch", "multi_gpu", "accept_licence", "compile"}
"""Settings that place or schedule the work but do not change the clip: left out of the identity digest."""


@dataclass
class Prepared:
    """One request made ready for the model (everything but the generated frames)."""

    request: GenerationRequest
    plan: TakePlan
    native: tuple[int, int]
    condition: np.ndarray  # uint8 native-size RGB, what take 0 is conditioned on
    delivery_box: Box  # in native pixel coordinates
    reference: np.ndarray | None  # delivery-size source photo (subject lock)
    fit: dict[str, Any]
    call: dict[str, Any]  # engine-specific pipeline kwargs shared by the batch
    prompt: str | None
    negative: str | None
    group_key: str = ""
    anchor: bool = False  # condition every take's last frame on the source photo (ask for less)
    shift: float | None = None  # flow-matching scheduler shift for this request (None: the scheduler's)
    controls: dict[str, Any] = field(default_factory=dict)  # what this attempt changed (provenance)
    timings: dict[str, float] = field(default_factory=dict)


class DiffusionEngine(Engine):
    """Base class: subclasses set the pipeline class and map presets onto the model's controls."""

    name: ClassVar[str] = "diffusion"
    pipeline_class: ClassVar[str] = ""
    allowed_classes: ClassVar[tuple[str, ...]] = ()
    text_conditioned: ClassVar[bool] = True
    batchable: ClassVar[bool] = True
    default_area: ClassVar[int] = 480 * 832
    default_fps: ClassVar[float] = 16.0
    default_steps: ClassVar[int] = 50
    default_guidance: ClassVar[float] = 5.0
    recommended_vae_dtype: ClassVar[str | None] = None
    oom_types: tuple[type[BaseException], ...] = ()

    def __init__(self, settings: DiffusionSettings):
        started = time.perf_counter()
        self.settings = settings
        try:
            import diffusers
            import torch
        except ImportError:
            raise EngineError(
                f"{self.name}: torch and diffusers are not installed; pip install 'catalog-motion[diffusion]'"
            ) from None
        loading.check_diffusers_version(self.name)
        self.licence = check_licence(self.name, settings)
        loading.check_device(self.name, settings.device, settings)
        self.folder, self.index = loading.resolve_weights(self.name, settings, self.allowed_classes)
        self.fingerprint = loading.weights_fingerprint(self.folder)
        pipeline_cls = getattr(diffusers, self.pipeline_class)
        self.pipe = loading.load_pipeline(
            self.name,
            pipeline_cls,
            settings,
            self.folder,
            settings.vae_dtype or (self.recommended_vae_dtype if settings.dtype != "float32" else None),
        )
        self.levers = loading.apply_levers(self.name, self.pipe, settings, settings.device)
        self.base_scheduler = self.pipe.scheduler
        self.oom_types = (torch.cuda.OutOfMemoryError,)
        self._savers_left = [s for s in ("vae_tiling", "offload:model") if not self._saver_on(s)]
        self._lock = threading.Lock()
        self.load_seconds = round(time.perf_counter() - started, 3)

    @classmethod
    def from_pipeline(cls, pipe, raw_settings: dict[str, Any], label: str = "in-memory") -> DiffusionEngine:
        """An engine around an already-built pipeline (benchmarks of random-weight real-size models).

        Production always goes through the constructor (weights from a folder or the hub cache).
        """
        import torch

        settings = parse_settings(cls.name, {"weights": label, **raw_settings})
        engine = cls.__new__(cls)
        engine.settings = settings
        loading.check_device(cls.name, settings.device, settings)
        engine.folder, engine.index, engine.fingerprint = "", {}, "random-weights"
        for component in pipe.components.values():
            if hasattr(component, "eval"):
                component.eval()
        pipe.set_progress_bar_config(disable=True)
        engine.pipe = pipe
        engine.licence = LICENCES[cls.name]  # random weights: no model licence to accept
        engine.levers = loading.apply_levers(cls.name, pipe, settings, settings.device)
        engine.base_scheduler = pipe.scheduler
        engine.oom_types = (torch.cuda.OutOfMemoryError,)
        engine._savers_left = [s for s in ("vae_tiling", "offload:model") if not engine._saver_on(s)]
        engine._lock = threading.Lock()
        engine.load_seconds = 0.0
        return engine

    # ----- model facts (subclasses refine) -------------------------------------------------------
    def size_multiple(self) -> int:
        raise NotImplementedError

    def fixed_size(self) -> tuple[int, int] | None:
        """(width, height) for models that only generate one size, else None."""
        return None

    def round_frames(self, n: int) -> int:
        """Smallest frame count >= n the model accepts."""
        return n

    def pipeline_num_frames(self, frames: int) -> int:
        """The pipeline's `num_frames` argument that makes it output `frames` frames (a round_frames count);
        the same number for every model but FramePack, whose argument counts sections."""
        return frames

    def max_take(self) -> int:
        raise NotImplementedError

    def model_fps(self) -> float:
        return self.settings.fps or self.default_fps

    def steps(self) -> int:
        return self.settings.steps or self.default_steps

    def guidance(self) -> float:
        return self.default_guidance if self.settings.guidance is None else self.settings.guidance

    def loop_method(self) -> str:
        return "crossfade"

    def supports_last_frame(self) -> bool:
        """The pipeline takes a `last_image` (first/last-frame conditioning)."""
        return False

    def shift_key(self) -> str | None:
        """The scheduler config field that holds a static flow-matching shift, else None."""
        config = self.base_scheduler.config
        if config.get("use_dynamic_shifting"):
            return None  # the pipeline computes the shift from the sequence length
        if "flow_shift" in config and config.get("use_flow_sigmas"):
            return "flow_shift"
        return "shift" if "shift" in config and "FlowMatch" in type(self.base_scheduler).__name__ else None

    def attempt_shift(self, motion_scale: float) -> float | None:
        """Scheduler shift for an attempt: lower asks for less (fewer steps at high noise, so the photo's
        structure is decided earlier and holds); None where the scheduler has no static shift."""
        key = self.shift_key()
        if key is None:
            return None
        base = self.settings.shift or float(self.base_scheduler.config[key])
        return round(base * (0.5 + 0.5 * motion_scale) if motion_scale < 1 else base, 4)

    def attempt_guidance(self, motion_scale: float) -> float:
        """Guidance for an attempt: lower asks for less (weaker pull toward the prompt's motion); guidance 1
        (no CFG, distilled models) stays 1."""
        g = self.guidance()
        return g if g <= 1.0 or motion_scale >= 1 else round(max(1.0, g * (0.5 + 0.5 * motion_scale)), 4)

    def model_label(self) -> str:
        weights = self.settings.weights or ""
        return Path(weights).name if loading._is_pathlike(weights) else weights

    def identity(self) -> str:
        # An in-memory pipeline (from_pipeline) has no folder: its fingerprint names it.
        return self.identity_for(self.settings, weights_id=None if self.folder else self.fingerprint)

    @classmethod
    def identity_for(cls, settings: DiffusionSettings, weights_id: str | None = None) -> str:
        """The identity from settings alone: no pipeline is built, no weight byte is read (a CPU fetch node
        keys items for GPU workers). A local folder is fingerprinted from its configs and file sizes; a hub id
        is named by its pinned `revision` ("unpinned" otherwise: pin it, or a new upload is not noticed)."""
        check_licence(cls.name, settings)
        shell = cls.__new__(cls)
        shell.settings = settings
        s = settings
        parts = [
            cls.name,
            f"{shell.model_label()}@{s.revision or weights_id or loading.weights_identity(cls.name, s)}",
            s.dtype,
            f"steps{shell.steps()}",
            f"cfg{shell.guidance():g}",
            f"area{shell.native_area()}",
            f"fps{s.fps:g}" if s.fps else "fps-native",
            ENGINE_CODE_VERSION,
        ]
        if s.profile:
            parts.append(f"profile:{s.profile}")
        if s.lora:
            lora = Path(s.lora.path).expanduser()
            mark = (
                loading.weights_fingerprint(str(lora))
                if lora.is_dir()
                else (f"{lora.stat().st_size}" if lora.is_file() else "hub")
            )
            parts.append(f"lora:{lora.name}@{s.lora.scale:g}#{mark}")
        if s.subject_lock:
            parts.append(f"lock{s.subject_lock_max_residual:g}")
        if s.cache.kind != "none":
            parts.append(f"cache:{s.cache.kind}")
        # Every other setting that changes the pixels (shift, fp8, tiling, take lengths, ...), as one digest.
        recipe = json.dumps(s.model_dump(exclude=PIXEL_NEUTRAL), sort_keys=True, default=str)
        parts.append("s#" + hashlib.sha256(recipe.encode()).hexdigest()[:10])
        return "/".join(parts)

    def native_area(self) -> int:
        return self.settings.native_area or self.default_area

    def native_size(self, preset: Preset) -> tuple[int, int]:
        fixed = self.fixed_size()
        if fixed:
            return fixed
        m = self.size_multiple()
        aspect = preset.width / preset.height
        h = math.sqrt(self.native_area() / aspect)
        w = h * aspect
        return max(m, round(w / m) * m), max(m, round(h / m) * m)

    def call_kwargs(self, prepared_preset: Preset, amount: float, motion_scale: float) -> dict[str, Any]:
        """Engine-specific pipeline arguments that depend on the preset (not on the photo)."""
        return {}

    # ----- preparing a request ------------------------------------------------------------------
    def _saver_on(self, saver: str) -> bool:
        if saver == "vae_tiling":
            return self.settings.vae_tiling or not loading.vae_supports_tiling(self.pipe)
        return self.settings.offload != "none" or not self.settings.device.startswith("cuda")

    def _enable_next_saver(self) -> str | None:
        while self._savers_left:
            saver = self._savers_left.pop(0)
            if saver == "vae_tiling":
                self.pipe.vae.enable_tiling()
            else:
                self.pipe.enable_model_cpu_offload(device=self.settings.device)
            self.levers.append(f"{saver} (after OOM)")
            return saver
        return None

    def prepare(self, request: GenerationRequest) -> Prepared:
        started = time.perf_counter()
        preset = request.preset
        source = read_photo(request.source_path, preset.background)
        src_h, src_w = source.shape[:2]
        nw, nh = self.native_size(preset)
        small_scale = min(1.0, 512 / max(src_h, src_w))
        small = (
            cv2.resize(
                source,
                (max(8, round(src_w * small_scale)), max(8, round(src_h * small_scale))),
                interpolation=cv2.INTER_AREA,
            )
            if small_scale < 1
            else source
        )
        mask = subject_mask(small)
        centre = subject_center(mask)
        cx = (centre.x + 0.5) * src_w / small.shape[1] - 0.5
        cy = (centre.y + 0.5) * src_h / small.shape[0] - 0.5
        if self.fixed_size():
            # Fixed-size model: keep the whole garment, extend the studio background to the native aspect.
            canvas, offset = pad_to_aspect(source, nw, nh)
            cond_box = Box(0, 0, canvas.shape[1], canvas.shape[0])
            fit_mode = "pad"
        else:
            canvas, offset = source, (0, 0)
            cond_box = cover_crop_box(src_w, src_h, nw, nh, center=(cx, cy))
            fit_mode = "cover"
        condition = crop_resize(canvas, cond_box, nw, nh)
        # Subject centre in native coordinates, then the delivery crop around it.
        ncx = (cx + offset[0] + 0.5 - cond_box.x0) * nw / cond_box.width - 0.5
        ncy = (cy + offset[1] + 0.5 - cond_box.y0) * nh / cond_box.height - 0.5
        delivery_box = cover_crop_box(nw, nh, preset.width, preset.height, center=(ncx, ncy))
        reference = None
        if self.settings.subject_lock:
            sx, sy = cond_box.width / nw, cond_box.height / nh
            ref_box = Box(
                cond_box.x0 + delivery_box.x0 * sx,
                cond_box.y0 + delivery_box.y0 * sy,
                cond_box.x0 + delivery_box.x1 * sx,
                cond_box.y0 + delivery_box.y1 * sy,
            )
            reference = crop_resize(canvas, ref_box, preset.width, preset.height)
        amount = preset.motion.amount * request.motion_scale
        duration = preset.duration_s * request.duration_scale
        plan, take_limit = self._plan(preset, duration, request.motion_scale)
        call = self.call_kwargs(preset, amount, request.motion_scale)
        prompt = negative = None
        calmer = request.motion_scale < 1
        if self.text_conditioned:
            base = preset.motion.prompt or "fashion product photo, studio lighting"
            prompt = f"{base}, {motion_phrase(preset.motion.path, amount)}"
            negative = preset.motion.negative_prompt or DEFAULT_NEGATIVE
            if calmer:
                negative = f"{negative}, {CALM_NEGATIVE}"
        # Asking for less anchors every take's end on the photo where the model takes a last frame.
        anchor = calmer and plan.loop_method != "last_frame" and self.supports_last_frame()
        shift = self.attempt_shift(request.motion_scale)
        controls = {
            "take_frame_limit": take_limit,
            "anchored_to_photo": anchor or plan.loop_method == "last_frame",
            "shift": shift,
            "calm_negative": calmer and self.text_conditioned,
            **{k: v for k, v in call.items() if k not in {"frame_rate", "fps", "decode_chunk_size"}},
        }
        fit = {
            "mode": fit_mode,
            "source_size": [src_w, src_h],
            "native_size": [nw, nh],
            "condition_box": cond_box.as_list(),
            "delivery_box_native": delivery_box.as_list(),
            "delivery_upscale": round(preset.width / delivery_box.width, 3),
        }
        key = repr((nw, nh, plan, sorted(call.items()), prompt, negative, anchor, shift))
        prepared = Prepared(
            request,
            plan,
            (nw, nh),
            condition,
            delivery_box,
            reference,
            fit,
            call,
            prompt,
            negative,
            key,
            anchor=anchor,
            shift=shift,
            controls=controls,
        )
        prepared.timings["prepare_s"] = round(time.perf_counter() - started, 4)
        return prepared

    def _plan(self, preset: Preset, duration: float, motion_scale: float) -> tuple[TakePlan, int]:
        """Takes for a request, and the frame limit per take: asking for less shortens each take (drift grows
        with a take's length; the takes are stitched), as far as `max_takes` allows."""
        full = self.settings.max_take_frames or self.max_take()
        limits = [full]
        if motion_scale < 1:
            floor = 2 * self.settings.overlap_frames + 1
            limits.insert(0, max(floor, self.round_frames(int(full * motion_scale))))
        error: ValueError | None = None
        for limit in limits:
            try:
                plan = plan_takes(
                    duration,
                    self.model_fps(),
                    limit,
                    self.round_frames,
                    loop=preset.loop,
                    loop_method=self.loop_method(),
                    loop_blend=self.settings.loop_blend_frames,
                    overlap=self.settings.overlap_frames,
                    max_takes=self.settings.max_takes,
                    engine=self.name,
                )
                return plan, limit
            except ValueError as exc:
                error = exc
        raise EngineError(f"{error}; shorten the preset or raise engines.{self.name}.max_takes") from None

    # ----- running the model --------------------------------------------------------------------
    def _use_shift(self, shift: float | None) -> None:
        """Put a scheduler with this shift on the pipeline (under the engine lock; None: the loaded one)."""
        key = self.shift_key()
        if shift is None or key is None or float(self.base_scheduler.config[key]) == shift:
            self.pipe.scheduler = self.base_scheduler
        else:
            self.pipe.scheduler = type(self.base_scheduler).from_config(self.base_scheduler.config, **{key: shift})

    def take_seed(self, seed: int, take: int) -> int:
        return seed if take == 0 else zlib.crc32(f"{seed}:{take}".encode()) & 0x7FFFFFFF

    def pipeline_call(
        self, items: list[Prepared], images: list[np.ndarray], take: int, last_image: bool
    ) -> tuple[np.ndarray, dict[str, float]]:
        """One forward pass for `items` (same group); returns uint8 (B, F, H, W, 3) and timings."""
        import torch
        from PIL import Image

        first = items[0]
        nw, nh = first.native
        kwargs: dict[str, Any] = dict(first.call)
        kwargs.update(
            height=nh,
            width=nw,
            num_frames=self.pipeline_num_frames(first.plan.frames_per_take),
            num_inference_steps=self.steps(),
            output_type="np",
        )
        pil = [Image.fromarray(img) for img in images]
        kwargs["image"] = pil if len(pil) > 1 else pil[0]
        gens = [torch.Generator(device="cpu").manual_seed(self.take_seed(p.request.seed, take)) for p in items]
        kwargs["generator"] = gens if len(gens) > 1 else gens[0]
        if self.text_conditioned:
            kwargs["prompt"] = [p.prompt for p in items] if len(items) > 1 else first.prompt
            kwargs["negative_prompt"] = [p.negative for p in items] if len(items) > 1 else first.negative
            if self.settings.max_sequence_length:
                kwargs["max_sequence_length"] = self.settings.max_sequence_length
        if last_image:
            anchors = [Image.fromarray(p.condition) for p in items]
            kwargs["last_image"] = anchors if len(anchors) > 1 else anchors[0]
        self._use_shift(first.shift)
        steps: list[float] = []

        def on_step_end(pipe, i, t, callback_kwargs):
            steps.append(time.perf_counter())
            return callback_kwargs

        kwargs["callback_on_step_end"] = on_step_end
        started = time.perf_counter()
        with torch.inference_mode():
            output = self.pipe(**kwargs)
        total = time.perf_counter() - started
        frames = np.asarray(output.frames)
        if frames.ndim == 4:
            frames = frames[None]
        frames = np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)
        if len(steps) >= 2:
            denoise = (steps[-1] - steps[0]) * len(steps) / (len(steps) - 1)
        else:
            denoise = (steps[-1] - started) if steps else 0.0
        return frames, {"call_s": total, "denoise_s": min(total, denoise)}

    def run_group(self, items: list[Prepared]) -> list[np.ndarray]:
        """All takes of a group of items; returns stitched uint8 native frames per item."""
        plan = items[0].plan
        takes: list[list[np.ndarray]] = [[] for _ in items]
        images = [p.condition for p in items]
        use_last = plan.loop_method == "last_frame" or items[0].anchor
        for k in range(plan.n_takes):
            frames, timing = self.pipeline_call(items, images, k, last_image=use_last)
            for i, p in enumerate(items):
                takes[i].append(frames[i])
                for key, value in timing.items():
                    p.timings[key] = round(p.timings.get(key, 0.0) + value / len(items), 4)
            images = [frames[i][-plan.overlap] if plan.overlap else frames[i][-1] for i in range(len(items))]
        return [stitch_takes(t, plan.overlap) for t in takes]

    # ----- the Engine interface -----------------------------------------------------------------
    def generate(self, request: GenerationRequest) -> ClipRef:
        result = self.generate_batch([request])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def generate_batch(self, requests: list[GenerationRequest]) -> list[ClipRef | Exception]:
        results: list[ClipRef | Exception | None] = [None] * len(requests)
        groups: dict[str, list[tuple[int, Prepared]]] = {}
        for index, request in enumerate(requests):
            try:
                prepared = self.prepare(request)
            except Exception as exc:  # noqa: BLE001 - recorded per item
                results[index] = exc
                continue
            groups.setdefault(prepared.group_key, []).append((index, prepared))
        limit = self.settings.max_batch if self.batchable else 1
        for members in groups.values():
            for start in range(0, len(members), limit):
                chunk = members[start : start + limit]
                events: list[str] = []
                # One forward pass at a time per process: pipelines (schedulers) are not thread-safe,
                # and a thread-pool task runner may call the shared engine from several threads.
                with self._lock:
                    outputs = run_with_oom_policy(
                        [p for _, p in chunk],
                        self.run_group,
                        oom_types=self.oom_types,
                        enable_next_saver=self._enable_next_saver,
                        on_oom=self._free_memory,
                        events=events,
                        engine=self.name,
                    )
                for (index, prepared), frames in zip(chunk, outputs, strict=True):
                    if isinstance(frames, Exception):
                        results[index] = frames
                        continue
                    try:
                        results[index] = self.finish(prepared, frames, batch=len(chunk), events=events)
                    except Exception as exc:  # noqa: BLE001
                        results[index] = exc
        return [r if r is not None else PermanentError("not generated") for r in results]

    def _free_memory(self) -> None:
        import gc

        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def finish(self, p: Prepared, native: np.ndarray, *, batch: int, events: list[str]) -> ClipRef:
        """Native frames -> loop/retime -> delivery size -> subject lock -> master clip."""
        started = time.perf_counter()
        request, preset, plan = p.request, p.request.preset, p.plan
        if plan.loop_frames:
            if plan.loop_method == "last_frame":
                native = native[: plan.loop_frames]  # the final frame repeats the first: drop it
            else:
                native = close_loop(native[: plan.needed], plan.loop_frames)
        n_out = max(2, round(preset.duration_s * request.duration_scale * preset.fps))
        positions = retime_positions(n_out, preset.fps, self.model_fps(), plan.loop_frames)
        retimer = Retimer(native, method=self.settings.interpolation, loop_frames=plan.loop_frames)
        lock = None
        if p.reference is not None:
            # Align at about the model's own resolution: finer detail than that was never generated.
            lock = SubjectLock(
                p.reference,
                subject_mask(p.reference),
                max_residual=self.settings.subject_lock_max_residual,
                analysis_long_side=min(320, max(p.native)),
            )
        locked = 0
        residuals: list[float] = []
        out = Path(request.out_path)
        with MasterClipWriter(out, preset.width, preset.height, preset.fps) as writer:
            for position in positions:
                frame = crop_resize(retimer.at(float(position)), p.delivery_box, preset.width, preset.height)
                if lock is not None:
                    frame, info = lock.apply(frame)
                    locked += info.locked
                    if math.isfinite(info.residual):
                        residuals.append(info.residual)
                writer.write(np.ascontiguousarray(frame))
        p.timings["post_s"] = round(time.perf_counter() - started, 4)
        s = self.settings
        params: dict[str, Any] = {
            "engine": self.name,
            "identity": self.identity(),
            "model": self.model_label(),
            "revision": s.revision,
            "weights_fingerprint": self.fingerprint,
            "pipeline": self.pipeline_class,
            "dtype": s.dtype,
            "device": s.device,
            "steps": self.steps(),
            "guidance": self.guidance(),
            "seed": request.seed,
            "take_seeds": [self.take_seed(request.seed, k) for k in range(plan.n_takes)],
            "amount": round(preset.motion.amount * request.motion_scale, 4),
            "motion_scale": request.motion_scale,
            "duration_scale": request.duration_scale,
            "duration_s": round(n_out / preset.fps, 4),
            "model_fps": self.model_fps(),
            "frames_per_take": plan.frames_per_take,
            "takes": plan.n_takes,
            "overlap_frames": plan.overlap,
            "model_frames_used": plan.needed,
            "loop": preset.loop,
            "loop_method": plan.loop_method,
            "interpolation": s.interpolation,
            "fit": p.fit,
            "call": {k: v for k, v in p.call.items()},
            "attempt_controls": dict(p.controls),
            "profile": s.profile,
            "licence": {"name": self.licence.name, "title": self.licence.title, "url": self.licence.url},
            "prompt": p.prompt,
            "negative_prompt": p.negative,
            "batch_size": batch,
            "levers": list(self.levers),
            "oom_events": events,
            "load_s": self.load_seconds,
            "timings": dict(p.timings),
        }
        if p.timings.get("call_s"):
            params["outside_denoise_share"] = round(1.0 - p.timings.get("denoise_s", 0.0) / p.timings["call_s"], 4)
        if s.lora:
            params["lora"] = {"path": s.lora.path, "scale": s.lora.scale}
        if lock is not None:
            params["subject_lock"] = {
                "locked_frames": locked,
                "frames": n_out,
                "mean_residual": round(float(np.mean(residuals)), 5) if residuals else None,
                "max_residual": s.subject_lock_max_residual,
            }
        return ClipRef(
            path=str(out),
            fps=float(preset.fps),
            n_frames=n_out,
            width=preset.width,
            height=preset.height,
            engine=self.name,
            seed=request.seed,
            attempt=request.attempt,
            params=params,
            seconds=round(sum(v for k, v in p.timings.items() if k in {"prepare_s", "call_s", "post_s"}), 4),
        )


def pad_to_aspect(rgb: np.ndarray, width: int, height: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Extend a photo with its own studio background to width:height (no crop, no distortion).

    Returns the canvas and the photo's (x, y) offset in it. The border colour is the median of the
    photo's edge, and the seam is softened so the model sees one continuous backdrop.
    """
    h, w = rgb.shape[:2]
    target = width / height
    if abs(w / h - target) < 1e-3:
        return rgb, (0, 0)
    if w / h < target:
        new_w, new_h = round(h * target), h
    else:
        new_w, new_h = w, round(w / target)
    left, top = (new_w - w) // 2, (new_h - h) // 2
    edge = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    colour = np.median(edge, axis=0).astype(np.uint8)
    canvas = np.empty((new_h, new_w, 3), np.uint8)
    canvas[:] = colour
    canvas[top : top + h, left : left + w] = rgb
    band = max(2, round(0.02 * max(w, h)))
    seam = np.zeros((new_h, new_w), np.float32)
    seam[top : top + h, left : left + w] = 1.0
    soft = cv2.GaussianBlur(seam, (0, 0), band)
    # Photo weight: 0 at its own edge rising to 1 a band inside, so its border fades into the fill.
    weight = np.where(seam > 0, np.clip((soft - 0.5) * 2.0, 0.0, 1.0), 0.0).astype(np.float32)
    fill = np.empty_like(canvas)
    fill[:] = colour
    canvas = cv2.blendLinear(canvas, fill, weight, 1.0 - weight)
    return canvas, (left, top)


def make_factory(engine_cls: type[DiffusionEngine]):
    def factory(raw: dict[str, Any]) -> DiffusionEngine:
        return engine_cls(parse_settings(engine_cls.name, raw))

    return factory


def make_identity(engine_cls: type[DiffusionEngine]):
    """settings dict -> the engine's identity, no pipeline built (generation.registry.engine_identity)."""

    def identity(raw: dict[str, Any]) -> str:
        return engine_cls.identity_for(parse_settings(engine_cls.name, raw))

    return identity
