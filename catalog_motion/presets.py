"""Channel presets: validated data loaded from YAML into pydantic models.

A user adds a preset by editing the YAML file (or passing their own with ``--presets-file``).
An invalid file is rejected with a ``ConfigError`` naming the preset and the field.
"""

from __future__ import annotations

from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from catalog_motion.errors import ConfigError

# --- motion (what to ask an engine for) -------------------------------------------------------
CameraPath = Literal["push_in", "pan", "parallax_orbit", "breathing", "static"]


class MotionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: CameraPath = Field(
        default="breathing",
        description="Camera path: push_in (slow zoom toward the focus), pan (lateral drift), parallax_orbit "
        "(subject and background move at different rates), breathing (tiny zoom in and out; loops), static.",
    )
    amount: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Motion strength 0..1. For `camera` it scales zoom/pan extent; for diffusion engines it "
        "maps to each model's motion control. Lower is the first 'ask for less' lever.",
    )
    focus: Literal["subject", "detail", "center"] = Field(
        default="subject",
        description="Where the camera aims: the whole subject, a textured/printed detail region of the "
        "garment (close-ups), or the frame centre.",
    )
    # --- garment motion (the `camera` engine moves the fabric too; generation/garment.py) ---
    sway: float = Field(
        default=0.0,
        ge=0.0,
        le=0.08,
        description="Garment sway: peak sideways swing of the hem as a fraction of the garment's height "
        "(0 at the anchor line: shoulders, hanger, waistband; lower fabric follows later). 0 = none. "
        "Scaled by 'ask for less' like `amount`.",
    )
    hem_swing: float = Field(
        default=0.0,
        ge=0.0,
        le=0.03,
        description="A gentle wave travelling along the hem: its peak up/down movement as a fraction of the "
        "garment's height. 0 = none.",
    )
    breath: float = Field(
        default=0.0,
        ge=0.0,
        le=0.02,
        description="Breathing for on-model photos: chest rise as a fraction of the garment's height. 0 = none.",
    )
    sway_period_s: float = Field(
        default=2.0,
        ge=0.5,
        le=10.0,
        description="Seconds per sway; loop presets round it so the clip holds a whole number of periods.",
    )
    sway_direction: Literal["right", "left"] = Field(default="right", description="Which way the hem swings first.")
    prompt: str | None = Field(default=None, description="Text prompt for text-conditioned engines")
    negative_prompt: str | None = Field(default=None, description="Negative prompt where the engine has one")


# --- QC thresholds (scores defined in docs/QUALITY.md) ----------------------------------------
class QCThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # --- subject drift -------------------------------------------------------------------------
    max_subject_drift: float = Field(
        default=0.25,
        ge=0.0,
        le=1.0,
        description="Highest allowed subject drift (0 = identical to the source photo, 1 = unrelated) over "
        "the clip's worst short window (`drift_window_s`), after compensating the camera motion. Drift per "
        "frame combines its structure, colour, texture and deformation components, each scaled to [0, 1] "
        "(L-p norm, `drift_combine_p`).",
    )
    colour_de_scale: float = Field(
        default=8.0,
        gt=0.0,
        description="CIEDE2000 difference above `colour_de_floor` (on the worst subject blocks) that maps "
        "to colour drift 1.0; the defaults make a dE of 3 (clearly noticeable) reach drift 0.19 and a dE of 3.5 "
        "the limit 0.25 alone.",
    )
    texture_scale: float = Field(
        default=0.25,
        gt=0.0,
        le=1.0,
        description="Loss of gradient agreement (1 - 2<g_src, g_frame> / (|g_src|^2 + |g_frame|^2)) on the "
        "worst subject blocks that maps to texture drift 1.0 (prints, logos, text, weave).",
    )
    deformation_px_scale: float = Field(
        default=0.04,
        gt=0.0,
        description="Non-smooth residual subject displacement after global alignment (what a quadratic "
        "field over the subject does not explain: a print sliding or bending locally), as a fraction of "
        "the subject size, that maps to deformation drift 1.0.",
    )
    drift_sample_frames: int = Field(
        default=12,
        ge=2,
        le=1000,
        description="Frames compared with the source photo (evenly spaced, first and last included; 3 per "
        "second of a 4 s clip). A high sample is confirmed by its neighbours (`drift_window_s`); changes "
        "between samples are the frame-to-frame checks' (warping error, cuts), which see every frame.",
    )
    segmenter_weights: str | None = Field(
        default=None,
        description="Local TorchScript subject segmenter ((1,3,H,W) RGB in [0,1] -> (1,1,H,W) logits); "
        "None uses the weight-free studio mask. Never downloaded (quality/learned.py).",
    )
    similarity_weights: str | None = Field(
        default=None,
        description="Local TorchScript image encoder ((1,3,H,W) -> (1,D)) for a learned drift component "
        "(e.g. an exported DINO/CLIP vision tower); None leaves that component at 0.",
    )
    learned_similarity_scale: float = Field(
        default=0.2,
        gt=0.0,
        le=2.0,
        description="1 - cosine similarity of the source's and the frame's embeddings that maps to drift 1.0.",
    )
    # --- flicker ---------------------------------------------------------------------------------
    max_flicker: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="Highest allowed flicker index: the RMS of high-passed relative luminance changes between "
        "consecutive frames after motion compensation, over the subject and over the background "
        "(0.02 = 2 % frame-to-frame brightness wobble).",
    )
    max_warp_error: float = Field(
        default=0.004,
        ge=0.0,
        le=1.0,
        description="Highest allowed mean warping error (Lai et al. 2018: mean squared RGB error in [0, 1] "
        "between frame t and frame t+1 warped back by optical flow, non-occluded pixels), worst pair "
        "after a 3-pair median so one cut is caught but a single flow failure is not.",
    )
    max_flashes_per_second: int = Field(
        default=3,
        ge=0,
        description="WCAG 2.3.1 general-flash limit: more flashes than this in any 1 s always fails.",
    )
    # --- technical ----------------------------------------------------------------------------------
    max_black_frames: int = Field(default=0, ge=0, description="Frames allowed to be black or blank")
    max_frozen_seconds: float = Field(
        default=0.5,
        gt=0.0,
        description="Longest allowed stretch whose first and last frames differ by less than `frozen_noise` "
        "(a held frame). Skipped when the preset's motion is static or has amount 0.",
    )
    frozen_noise: float = Field(
        default=0.0002,
        gt=0.0,
        description="Mean absolute difference (RGB in [0, 1], at work size) below which two frames count as "
        "the same picture; also the floor of the loop-seam ratio's denominator.",
    )
    max_loop_seam: float = Field(
        default=5.0,
        gt=0.0,
        description="Loop presets: the last-to-first step may be at most this many times a normal frame "
        "step, the larger of the camera seam (drift alignment warps: blind to compression noise) and the "
        "low-passed picture seam (quality/technical.py). An exactly periodic loop at libx264 crf 26 scores "
        "up to 4.1 on the calibration set, a 2 % zoom that does not return 5.4 or more.",
    )
    # --- drift (quality/drift.py, agent drift) ---
    drift_combine_p: float = Field(
        default=2.0,
        ge=1.0,
        le=16.0,
        description="A frame's drift is the L-p norm of its scaled components (capped at 1): 2 = root-sum-"
        "square, so structure, colour and texture each at 0.15 make 0.26 (a subject off in every way at "
        "once); a large p approaches the largest component alone.",
    )
    drift_window_s: float = Field(
        default=0.15,
        gt=0.0,
        le=2.0,
        description="Seconds: the clip's drift is its worst window of this length, the median of a "
        "sample and its neighbours half a window away on each side (scored when the sample is high). A "
        "glitch that lasts about half the window counts; a single odd frame (a rendering quirk, caught "
        "by the frame-to-frame checks) does not.",
    )
    colour_de_floor: float = Field(
        default=1.5,
        ge=0.0,
        description="CIEDE2000 difference on the worst subject blocks below which colour drift is 0 "
        "(imperceptible; a crf 20 H.264 encode alone reaches ~1.5 in dark regions, where dE is most "
        "sensitive). Colour drift is (dE - floor) / colour_de_scale.",
    )
    deformation_smooth_scale: float = Field(
        default=0.4,
        gt=0.0,
        description="Smooth residual motion (the whole residual field, worst blocks), as a fraction of "
        "the subject size, that maps to deformation drift 1.0. Anchored sway, hem swing and breathing "
        "of a few % of the subject score ~0.1; the non-smooth part has `deformation_px_scale`.",
    )
    max_detail_loss: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Highest allowed loss of fine detail on the garment's most detailed patches (print, "
        "logo, text) compared at the clip's full resolution: the worse of 1 - gradient agreement and "
        "1 - SSIM, worst patch, the better of each consecutive-frame pair. Check name: detail.",
    )
    detail_softness_px: float = Field(
        default=1.5,
        ge=0.0,
        le=8.0,
        description="Gaussian sigma, in full-resolution pixels, that both photo and frame are blurred by "
        "before the detail check compares them: softness of this order is how re-rendered (diffusion) "
        "video looks and is not a defect; a smear, melted text or a blurred print are far larger.",
    )
    detail_patch_px: int = Field(
        default=96,
        ge=32,
        le=512,
        description="Side, in full-resolution pixels, of the square patches the detail check compares "
        "(about a logo's size at 1080p).",
    )
    detail_patches: int = Field(
        default=4,
        ge=1,
        le=16,
        description="Most detailed garment patches (print, logo, text) compared per full-resolution frame.",
    )
    # --- temporal (quality/temporal.py, agent temporal) ---
    max_cut_ratio: float = Field(
        default=4.0,
        gt=1.0,
        description="Jump cut: a consecutive pair's change (low resolution, one-pixel displacement forgiven) "
        "may be at most this many times the median change of the 4 pairs on each side, unless the change is "
        "undone within 6 frames (then it is a glitch). A cut to another take or framing scores 10x and more.",
    )
    cut_change_floor: float = Field(
        default=0.002,
        gt=0.0,
        description="Smallest baseline (mean change in [0, 1]) a pair's change is divided by for the cut "
        "ratio, so a near-still clip, a breathing loop's turning point or compression noise needs a real "
        "jump (at least max_cut_ratio x this) to count as a cut.",
    )
    max_glitch_ratio: float = Field(
        default=3.0,
        gt=1.0,
        description="Short glitch: the mean subject change against the photo over any 1-6 frames may be at "
        "most this many times that of the frames just before and after them.",
    )
    glitch_residual_floor: float = Field(
        default=0.004,
        gt=0.0,
        description="Smallest baseline (mean subject change against the photo, [0, 1]) the glitch ratio is "
        "divided by, so a clip that matches its photo almost exactly needs a visible excursion to fail.",
    )
    max_boiling: float = Field(
        default=0.04,
        ge=0.0,
        le=2.0,
        description="Boiling texture: on the most textured native-resolution subject patches of consecutive "
        "full-size frames, aligned by phase correlation, the temporal residual of fine detail (band of "
        "~6-12 px period) over the patches' own detail energy (0 = the texture moved rigidly, 1 = "
        "re-synthesised independently each frame); second-worst detail pair. Good camera moves, sway, "
        "softness and H.264 crf 20-26 score <= 0.026; grain of 3/255 std re-drawn per frame ~0.06.",
    )
    # --- motion, duration, loop seam (quality/technical.py, quality/motion.py, agent technical) ---
    min_duration_fraction: float = Field(
        default=0.95,
        gt=0.0,
        le=1.0,
        description="Shortest allowed clip as a fraction of the shortest duration the preset ever asks for: "
        "duration_s x ask_for_less.duration_factor^(max_attempts - 1) (duration_s itself with the default "
        "policy, which never shortens). The 5 % slack covers engines whose frame counts are rounded to their "
        "own step; shorter clips, and files whose decoding stops early, fail `duration`.",
    )
    max_duration_fraction: float = Field(
        default=1.0,
        ge=1.0,
        le=4.0,
        description="Longest allowed clip as a fraction of the preset's duration_s (plus one frame of "
        "rounding); longer clips fail `duration`.",
    )
    loop_seam_long_side: int = Field(
        default=64,
        ge=16,
        le=1024,
        description="Loop presets: long side, in pixels, of the low-passed frames the loop seam is measured "
        "on. Compression (the encoder's sharper first frame) changes fine detail only; a real seam (a zoom "
        "that does not return, a jump) moves the whole picture.",
    )
    loop_seam_noise: float = Field(
        default=0.002,
        gt=0.0,
        description="Loop presets: floor of the typical low-passed frame step (mean absolute RGB difference "
        "in [0, 1]) the seam is divided by, so a nearly still loop is not judged on noise.",
    )
    min_motion_fraction: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Presets that ask for motion: the clip's largest camera or subject motion must reach this "
        "share of the motion the preset's path and amount give the camera engine, times the smallest motion "
        'scale "ask for less" reaches (motion_factor ** (max_attempts - 1)). A still with noise fails '
        "`motion`.",
    )
    max_motion_margin: float = Field(
        default=3.0,
        ge=1.0,
        description="The camera motion (corner travel, % of the long side) may be at most this many times "
        "what the preset's path and amount give the camera engine, plus max_motion_slack_pct.",
    )
    max_motion_slack_pct: float = Field(
        default=1.0,
        ge=0.0,
        description="Camera motion allowed on top of max_motion_margin x the nominal motion, in % of the "
        "frame's long side (so subtle presets tolerate a generator's small drift of framing).",
    )
    # --- framing (quality/framing.py, agent framing) ---
    framing_margin: float = Field(
        default=0.02,
        ge=0.0,
        le=0.25,
        description="Framing: free band kept around the subject inside every frame, as a fraction of the "
        "frame's short side (0.02 = ~22 px on a 1080 px side), so a garment never touches the edge.",
    )
    max_subject_outside: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="Framing: largest fraction of the subject's area (the source photo's subject mask, "
        "mapped into the frame) allowed outside the frame's inner band in any sampled frame; parts the "
        "photo's own border already cut do not count. Skipped for detail crops (motion.focus 'detail').",
    )
    max_subject_overhang: float = Field(
        default=0.09,
        ge=0.0,
        le=1.0,
        description="Framing: how far the subject (the photo's subject extent, mapped into the frame) may "
        "reach past the frame's inner band in any sampled frame, as a fraction of its extent along that "
        "side: narrow parts (outstretched sleeves) are little area but cut the garment where a viewer looks.",
    )
    delivery_min_detail_psnr_db: float = Field(
        default=41.0,
        ge=0.0,
        description="Delivered file: lowest allowed luma PSNR (dB) against the master at half the clip's "
        "resolution on evenly spaced frames: blocking and wiped texture that the small comparison size hides.",
    )
    # --- delivered file (quality/delivered.py, agent framing) ---
    delivery_min_psnr_db: float = Field(
        default=38.0,
        ge=0.0,
        le=99.0,
        description="Delivered file: lowest allowed PSNR (dB, Y'CbCr weighted 6:1:1, at the delivery "
        "comparison size) of any frame of an encode against the same frame of its master; below it the "
        "encoder lost visible detail or the file shows another picture.",
    )
    delivery_long_side: int = Field(
        default=160,
        ge=32,
        le=2048,
        description="Delivered file: long side, in pixels (~, an integer box reduction of the decoded "
        "planes), at which an encode is compared with its master (small keeps the check within ~0.3 s).",
    )
    # --- sizes the checks run at ---
    detail_frames: int = Field(
        default=6,
        ge=0,
        le=64,
        description="Evenly spaced frames (each with its next frame) decoded at full resolution for the "
        "fine-detail checks (print, text, texture stability): what a 320 px work frame cannot show.",
    )
    flicker_long_side: int = Field(
        default=160,
        ge=32,
        le=2048,
        description="Long side, in pixels, of the frames the flicker and warping-error flow runs on "
        "(flicker is a large-area effect; smaller is faster).",
    )
    work_long_side: int = Field(
        default=320,
        ge=64,
        le=2048,
        description="Long side, in pixels, of the frames the metrics run on (speed vs sensitivity).",
    )
    borderline_margin: float = Field(
        default=0.1,
        ge=0.0,
        lt=1.0,
        description="A passing clip is borderline when a score is within this fraction of its limit "
        "(e.g. 0.1: drift 0.23 against max_subject_drift 0.25); `review.borderline_policy` says what "
        "happens to it. 0 turns borderline off.",
    )


# --- encodings (delivery targets in docs/PUBLISHING.md) ---------------------------------------
class EncodingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["mp4-h264", "webm-vp9", "poster-jpeg", "poster-webp"] = Field(
        description="Output kind. mp4-h264: H.264 yuv420p, +faststart, no audio. webm-vp9: alternative "
        "source for browsers. poster-*: a still of the first frame."
    )
    crf: int | None = Field(default=None, ge=0, le=63, description="Constant rate factor; None = format default")
    maxrate_kbps: int | None = Field(default=None, gt=0, description="Peak bitrate cap (VBV), kbit/s")
    preset: str | None = Field(default=None, description="x264 speed preset (veryfast, medium, ...)")
    profile: Literal["baseline", "main", "high"] = Field(
        default="high", description="H.264 profile (mp4-h264 only); High is what every current browser/app plays"
    )
    gop_s: float = Field(
        default=2.0,
        gt=0.0,
        le=10.0,
        description="Keyframe interval in seconds; GOPs are closed and scene-cut keyframes off so seeking "
        "and looping are predictable (Meta asks for closed GOPs)",
    )
    audio: Literal["none", "silent-aac"] = Field(
        default="none",
        description="none: no audio track (product pages autoplay muted). silent-aac: a silent 48 kHz stereo "
        "AAC track, only for channels whose ingest rejects video without audio",
    )
    cpu_used: int = Field(default=4, ge=0, le=8, description="libvpx-vp9 speed (webm-vp9 only); 4 = fast, good")
    quality: int = Field(default=88, ge=1, le=100, description="Poster quality (poster-jpeg / poster-webp)")
    scale_filter: Literal["lanczos", "bicubic", "spline"] = Field(
        default="lanczos",
        description="Resampling filter used when the master clip's size differs from the preset's size",
    )

    @model_validator(mode="after")
    def _check(self) -> EncodingSpec:
        if self.audio != "none" and self.format != "mp4-h264":
            raise ValueError(f"audio={self.audio!r} is only supported for mp4-h264")
        return self

    @property
    def is_video(self) -> bool:
        return self.format in ("mp4-h264", "webm-vp9")


class AskForLessPolicy(BaseModel):
    """How a clip that fails drift or flicker is regenerated before it is rejected."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=3, ge=1, le=10, description="Generations per item, the first included")
    motion_factor: float = Field(default=0.5, gt=0.0, le=1.0, description="Motion amount multiplier per retry")
    duration_factor: float = Field(
        default=1.0, gt=0.0, le=1.0, description="Duration multiplier per retry (1 keeps the duration)"
    )
    new_seed: bool = Field(default=True, description="Use a new seed on each retry")


class ReviewPolicy(BaseModel):
    """What happens to a borderline clip (passed QC, a score within `qc.borderline_margin` of its limit)."""

    model_config = ConfigDict(extra="forbid")

    borderline_policy: Literal["publish", "hold", "reject"] = Field(
        default="publish",
        description="publish: as a passed clip (the behaviour before review existed); hold: keep it "
        "unpublished in the review queue until a person decides (docs/REVIEW.md); reject: reject it "
        "(also queued for review)",
    )


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Key of the preset, used in paths and the manifest")
    description: str = ""
    aspect: str = Field(description="Aspect ratio as W:H, e.g. 4:5; must agree with width and height")
    width: int = Field(gt=0, le=4096)
    height: int = Field(gt=0, le=4096)
    duration_s: float = Field(gt=0.0, le=30.0, description="Clip length in seconds")
    fps: int = Field(gt=0, le=60)
    loop: bool = Field(default=False, description="Last frame must flow back into the first")
    engine: str = Field(default="camera", description="Registered engine name (camera, wan, svd, ltx, cogvideox)")
    source_image: Literal["main", "lifestyle", "additional"] = Field(
        default="main", description="Which catalog photo to animate"
    )
    background: str = Field(default="#ffffff", description="Colour that transparent photo areas are laid on")
    motion: MotionSpec = Field(default_factory=MotionSpec)
    qc: QCThresholds = Field(default_factory=QCThresholds)
    encodings: list[EncodingSpec] = Field(
        default_factory=lambda: [EncodingSpec(format="mp4-h264"), EncodingSpec(format="poster-jpeg")]
    )
    ask_for_less: AskForLessPolicy = Field(default_factory=AskForLessPolicy)
    review: ReviewPolicy = Field(default_factory=ReviewPolicy)

    @property
    def n_frames(self) -> int:
        return max(2, round(self.duration_s * self.fps))

    @model_validator(mode="after")
    def _check_geometry(self) -> Preset:
        try:
            w, h = (int(part) for part in self.aspect.split(":"))
        except ValueError as exc:
            raise ValueError(f"aspect must look like '4:5', got {self.aspect!r}") from exc
        if w <= 0 or h <= 0:
            raise ValueError(f"aspect must be positive, got {self.aspect!r}")
        if Fraction(self.width, self.height) != Fraction(w, h):
            raise ValueError(f"width x height {self.width}x{self.height} is not {self.aspect}")
        if self.width % 2 or self.height % 2:
            raise ValueError("width and height must be even (yuv420p)")
        if not any(e.format.startswith(("mp4", "webm")) for e in self.encodings):
            raise ValueError("encodings must include at least one video format")
        return self


class PresetFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presets: dict[str, Preset]


DEFAULT_PRESETS_FILE = Path(str(resources.files("catalog_motion") / "presets.yaml"))


def _format_validation_error(exc: ValidationError, source: str) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{source}: invalid preset field '{where}': {first['msg']}"


def load_presets(path: str | Path | None = None) -> dict[str, Preset]:
    """Load and validate a presets file; the default ships with the package."""
    path = Path(path) if path else DEFAULT_PRESETS_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read presets file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("presets"), dict):
        raise ConfigError(f"{path}: expected a mapping with a 'presets' key")
    for name, body in raw["presets"].items():
        if isinstance(body, dict):
            body.setdefault("name", name)
            if body["name"] != name:
                raise ConfigError(f"{path}: presets.{name}.name is {body['name']!r}, must equal its key")
    try:
        parsed = PresetFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, str(path))) from None
    return parsed.presets


def select_presets(presets: dict[str, Preset], names: list[str] | None) -> list[Preset]:
    if not names:
        return list(presets.values())
    unknown = [n for n in names if n not in presets]
    if unknown:
        raise ConfigError(f"unknown preset(s): {', '.join(unknown)}; known: {', '.join(presets)}")
    return [presets[n] for n in names]
