"""QC thresholds of a preset. Owned by the quality stage.

Every score is defined in docs/QUALITY.md; the defaults come from the calibration on labelled clips
(``benchmarks/bench_qc_calibration.py``). Scores are "higher is worse" unless the name says otherwise.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class QCThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # --- subject drift -------------------------------------------------------------------------
    max_subject_drift: float = Field(
        default=0.25, ge=0.0, le=1.0,
        description="Highest allowed subject drift (0 = identical to the source photo, 1 = unrelated) at the "
        "worst sampled frame, after compensating the camera motion. Drift per frame is the largest of its "
        "structure, colour, texture and deformation components, each scaled to [0, 1].",
    )
    colour_de_scale: float = Field(
        default=12.0, gt=0.0,
        description="CIEDE2000 difference (on the worst subject blocks) that maps to colour drift 1.0; "
        "the default makes a dE of ~3 (clearly noticeable) reach drift 0.25.",
    )
    texture_scale: float = Field(
        default=0.25, gt=0.0, le=1.0,
        description="Loss of gradient agreement (1 - 2<g_src, g_frame> / (|g_src|^2 + |g_frame|^2)) on the "
        "worst subject blocks that maps to texture drift 1.0 (prints, logos, text, weave).",
    )
    deformation_px_scale: float = Field(
        default=0.04, gt=0.0,
        description="Residual subject displacement after global alignment, as a fraction of the subject "
        "size, that maps to deformation drift 1.0.",
    )
    drift_sample_frames: int = Field(
        default=24, ge=2, le=1000,
        description="Frames compared with the source photo (evenly spaced, first and last included).",
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
        default=0.2, gt=0.0, le=2.0,
        description="1 - cosine similarity of the source's and the frame's embeddings that maps to drift 1.0.",
    )
    # --- flicker ---------------------------------------------------------------------------------
    max_flicker: float = Field(
        default=0.02, ge=0.0, le=1.0,
        description="Highest allowed flicker index: the RMS of high-passed relative luminance changes between "
        "consecutive frames after motion compensation, over the subject and over the background "
        "(0.02 = 2 % frame-to-frame brightness wobble).",
    )
    max_warp_error: float = Field(
        default=0.004, ge=0.0, le=1.0,
        description="Highest allowed mean warping error (Lai et al. 2018: mean squared RGB error in [0, 1] "
        "between frame t and frame t+1 warped back by optical flow, non-occluded pixels), worst pair "
        "after a 3-pair median so one cut is caught but a single flow failure is not.",
    )
    max_flashes_per_second: int = Field(
        default=3, ge=0,
        description="WCAG 2.3.1 general-flash limit: more flashes than this in any 1 s always fails.",
    )
    # --- technical ----------------------------------------------------------------------------------
    max_black_frames: int = Field(default=0, ge=0, description="Frames allowed to be black or blank")
    max_frozen_seconds: float = Field(
        default=0.5, gt=0.0,
        description="Longest allowed stretch whose first and last frames differ by less than `frozen_noise` "
        "(a held frame). Skipped when the preset's motion is static or has amount 0.",
    )
    frozen_noise: float = Field(
        default=0.0002, gt=0.0,
        description="Mean absolute difference (RGB in [0, 1], at work size) below which two frames count as "
        "the same picture; also the floor of the loop-seam ratio's denominator.",
    )
    max_loop_seam: float = Field(
        default=3.0, gt=0.0,
        description="Loop presets: the last-to-first frame change may be at most this many times the "
        "typical (median) consecutive-frame change.",
    )
    flicker_long_side: int = Field(
        default=192, ge=32, le=2048,
        description="Long side, in pixels, of the frames the flicker and warping-error flow runs on "
        "(flicker is a large-area effect; smaller is faster).",
    )
    work_long_side: int = Field(
        default=320, ge=64, le=2048,
        description="Long side, in pixels, of the frames the metrics run on (speed vs sensitivity).",
    )
