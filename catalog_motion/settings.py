"""Run-level settings (not per preset): intake limits, engine settings, sink, orchestration.

Loaded from an optional YAML file (``--config``); every section has defaults, so no file is needed.
Relative paths in a settings file are relative to the file's own folder; command-line paths are relative
to the current folder. Both are made absolute here, before any stage sees them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from catalog_motion.delivery_settings import DeliverySettings
from catalog_motion.errors import ConfigError
from catalog_motion.paths import absolute_location, is_uri


class IntakeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connect_timeout_s: float = Field(default=5.0, gt=0, description="TCP connect timeout for photo downloads")
    read_timeout_s: float = Field(default=20.0, gt=0, description="Read timeout between bytes")
    max_bytes: int = Field(default=50 * 1024 * 1024, gt=0, description="Largest photo download accepted")
    max_pixels: int = Field(default=80_000_000, gt=0, description="Largest decoded photo (decompression bombs)")
    min_long_side: int = Field(default=512, gt=0, description="Photos with a shorter long side are flagged")
    max_redirects: int = Field(default=3, ge=0)
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts or CIDR ranges allowed although private/loopback (refused by default)",
    )
    ca_bundle: str | None = Field(
        default=None,
        description="PEM file of the certificate authorities trusted for HTTPS feeds and photos, instead of the "
        "system store (e.g. a brand's private CA); None: the system store",
    )
    download_concurrency: int = Field(default=8, ge=1, le=64)
    download_deadline_s: float = Field(
        default=120.0,
        gt=0,
        description="Longest one photo or feed download may take in all, however the bytes trickle in "
        "(read_timeout_s bounds only the wait between bytes)",
    )
    s3_buckets: list[str] | None = Field(
        default=None,
        description="Buckets that photo references of a remote catalog (a feed, Shopify or an s3:// catalog) "
        "may name as s3://bucket/key, besides an s3:// catalog's own bucket (always allowed); None: only that "
        "one. A local catalog file may name any bucket the worker can read (it is the operator's own file) "
        "unless this is set",
    )
    allowed_schemes: list[str] = Field(
        default_factory=lambda: ["file", "http", "https", "s3"],
        description="URI schemes a photo or catalog reference may use; a bare path counts as 'file'",
    )
    allowed_formats: list[str] = Field(
        default_factory=lambda: ["JPEG", "PNG", "WEBP", "TIFF", "GIF", "BMP", "MPO", "AVIF"],
        description="Image formats accepted, as detected from the content (never from the extension)",
    )
    max_catalog_bytes: int = Field(
        default=512 * 1024 * 1024, gt=0, description="Largest catalog file or feed download accepted"
    )
    local_roots: list[str] | None = Field(
        default=None,
        description="When set, local photo paths must resolve (symlinks followed) inside one of these folders",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="S3 endpoint for s3:// sources and photos (MinIO, moto); default: AWS or $AWS_ENDPOINT_URL",
    )
    s3_region: str | None = Field(default=None, description="Region for the S3 client; default from the env")
    shopify_token_env: str = Field(
        default="SHOPIFY_ACCESS_TOKEN",
        description="Environment variable holding the Shopify Admin API token (never logged)",
    )
    shopify_token_block: str | None = Field(
        default=None, description="Name of a Prefect Secret block holding the Shopify token (used if set)"
    )
    shopify_api_version: str = Field(default="2025-10", description="Shopify Admin API version in the URL")
    shopify_page_size: int = Field(default=50, ge=1, le=250, description="Products per GraphQL page")
    max_retries: int = Field(default=5, ge=0, le=20, description="Retries on 429/throttled/5xx from sources")
    backoff_s: float = Field(default=1.0, ge=0, description="First retry delay, doubled per retry (capped 30 s)")


class SinkSettings(BaseModel):
    """Where published assets and manifests go."""

    model_config = ConfigDict(extra="forbid")

    uri: str = Field(default="out", description="Local folder, or s3://bucket/prefix")
    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, moto, R2...)")
    region: str | None = Field(default=None)
    cache_control: str = Field(default="public, max-age=31536000, immutable")
    manifest_cache_control: str = Field(
        default="no-cache", description="Cache-Control of manifests: they change every run, assets never do"
    )
    multipart_threshold_mb: int = Field(
        default=16, ge=5, le=5120, description="Files at least this large upload in parts (S3 minimum part is 5 MiB)"
    )
    multipart_chunk_mb: int = Field(default=8, ge=5, le=5120, description="Part size of multipart uploads")
    max_concurrency: int = Field(default=4, ge=1, le=64, description="Parallel part uploads per file")
    orphan_grace_s: float = Field(
        default=86400.0,
        ge=0,
        description="Age after which a stored asset no manifest names is removed by any run's orphan sweep. "
        "Younger ones stored by another run are left: two runs may share a sink, and the other may still be "
        "publishing them (its manifest is written last)",
    )


class OrchestrationSettings(BaseModel):
    """How the Prefect flow schedules work. Owned by orchestration (tasks/, flows/)."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="Work items per task run. Match a GPU batch; raise it (e.g. 100) for very large "
        "catalogs so the server records a few thousand task runs rather than one per item.",
    )
    task_runner: Literal["threads", "processes", "dask", "ray"] = Field(
        default="threads",
        description="threads (default, one machine), processes (engine loaded once per process), "
        "dask (prefect-dask; local cluster or `dask_address`), ray (prefect-ray; local instance or `ray_address`)",
    )
    max_workers: int = Field(default=2, ge=1, le=256, description="Threads/processes/Dask workers")
    max_inflight_batches: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="Batches in flight at once; bounds flow memory and work-folder size at any scale",
    )
    max_queued_tasks: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Tasks handed to the runner at once; the driver then picks the batch furthest along "
        "first, so only about this many batches hold master clips in the work folder (e.g. max_workers "
        "with raw masters on a small disk). None: every ready task is handed over at once (fastest for "
        "tiny tasks: measured 14 vs 23 ms/item of overhead in the scale benchmark)",
    )
    dask_address: str | None = Field(
        default=None, description="Existing Dask scheduler (tcp://host:8786); None starts a local cluster"
    )
    dask_threads_per_worker: int = Field(default=1, ge=1, le=64, description="Threads in each Dask worker")
    ray_address: str | None = Field(default=None, description="Ray cluster address for the ray runner")
    ray_remote_options: dict[Literal["fetch", "generate", "check", "publish"], dict[str, Any]] = Field(
        default_factory=dict,
        description="Ray resources per stage task (task_runner ray only), e.g. {generate: {num_gpus: 1}} so "
        "generation is placed on GPU nodes while fetch, QC and publishing run anywhere",
    )
    retries: int = Field(default=3, ge=0, le=20, description="Retries of a task on a TransientError")
    lost_worker_resubmits: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Times a batch's stage is handed over again after the worker process running it died "
        "(process, Dask, Ray runners): a dead worker also fails every run queued in its pool. Past it the "
        "batch's pending items end `failed`; objects they had stored are adopted or removed",
    )
    retry_delay_s: float = Field(
        default=1.0, ge=0.0, le=600.0, description="First retry delay; doubles on each retry (exponential)"
    )
    retry_jitter_factor: float = Field(
        default=0.5, ge=0.0, le=5.0, description="Random extra delay, as a fraction of each delay"
    )
    gpu_concurrency_limit: str | None = Field(
        default=None,
        description="Name of a Prefect global concurrency limit that generation occupies (one slot per "
        "GPU, e.g. 'gpu'); None runs generation without a global limit",
    )
    rejection_rate_alert: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Emit catalog.run.rejection-rate-high when rejected/(generated) exceeds this",
    )
    keep_masters: bool = Field(
        default=False, description="Keep lossless master clips in the work folder after publishing"
    )
    master_format: Literal["auto", "raw", "lossless-h264"] = Field(
        default="auto",
        description="Format of the lossless master clips in the work folder. raw: rgb24 frames in NUT, "
        "near-free to write and read (~420 MB per 4 s 1080x1350 clip, ~1.1 GB per 6 s 1080x1920, held only "
        "while an item is in flight); lossless-h264: ~10x smaller, ~3 s more CPU per clip to write and decode; "
        "auto: raw while the work folder has room for it (3x the batch + 2 GiB free), else lossless-h264",
    )
    artifact_max_rows: int = Field(
        default=500, ge=10, le=100000, description="Rows shown in link/failure artifacts (counts are complete)"
    )
    plugins: list[str] = Field(
        default_factory=list,
        description="Python modules imported before work starts, in every worker process (e.g. modules "
        "that register custom engines with generation.registry.register_engine)",
    )
    qc_min_pass_rate: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="GX QC suite floor on the share of checked clip attempts that pass; below it the run's "
        "validate-qc-table task fails (the run still completes with its manifest)",
    )
    progress_every_s: float = Field(
        default=2.0, ge=0.0, le=600.0, description="Least time between progress artifact updates"
    )
    generation_timeout_s: float | None = Field(
        default=None,
        gt=0.0,
        description="Fixed limit on one clip's generation, overriding the scaled one below. None: the limit is "
        "scaled by the preset (generation_timeout_per_mpx_s x megapixels x seconds of clip, at least "
        "generation_timeout_min_s). Past it the item ends `failed` (timed out).",
    )
    generation_timeout_per_mpx_s: float = Field(
        default=120.0,
        gt=0.0,
        description="Generation time allowed per megapixel-second of output clip (a 4 s 1080x1350 clip is "
        "5.8 MP*s: 700 s by default, room for a large diffusion model on one GPU)",
    )
    generation_timeout_min_s: float = Field(
        default=60.0, gt=0.0, description="Least time any clip is allowed to generate (small presets)"
    )
    engine_isolation: Literal["auto", "process", "inline"] = Field(
        default="auto",
        description="Where engines run. process: in a worker process that owns the model, killed and restarted "
        "when a generation times out (the GPU is free before the next item starts); inline: in the task's own "
        "process (a timed-out call is abandoned in its thread); auto: what the engine registered (diffusion "
        "engines process, the camera engine inline)",
    )
    check_timeout_s: float = Field(
        default=300.0, gt=0.0, description="Longest the QC gate may take on one clip; past it the item is `failed`"
    )
    encode_timeout_s: float = Field(
        default=600.0, gt=0.0, description="Longest encoding one item's variants may take (ffmpeg is killed)"
    )
    publish_timeout_s: float = Field(
        default=600.0, gt=0.0, description="Longest storing one SKU's encoded files in the sink may take"
    )

    @model_validator(mode="after")
    def _ray_options_need_ray(self) -> OrchestrationSettings:
        if self.ray_remote_options and self.task_runner != "ray":
            raise ValueError(f"ray_remote_options apply only to task_runner 'ray', not {self.task_runner!r}")
        return self


class LatestSettings(BaseModel):
    """When a run's manifest may become `latest`, the manifest storefronts read."""

    model_config = ConfigDict(extra="forbid")

    max_shrink: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Largest share of the current `latest`'s published rows a run may lose; a run that would "
        "lose more is written as a run manifest but not promoted, and fails (`--allow-shrink` overrides)",
    )
    remove_deleted_skus: bool = Field(
        default=False,
        description="Drop published rows of SKUs that left the catalog (listed in the run summary). False: they "
        "are carried forward, still published, until deletions are intended",
    )


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presets_file: str | None = Field(default=None, description="Presets YAML; the packaged one by default")
    work_dir: str | None = Field(default=None, description="Scratch folder for photos and master clips")
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    engines: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-engine settings, e.g. engines.wan.weights: /models/wan"
    )
    sink: SinkSettings = Field(default_factory=SinkSettings)
    orchestration: OrchestrationSettings = Field(default_factory=OrchestrationSettings)
    latest: LatestSettings = Field(default_factory=LatestSettings)
    delivery: DeliverySettings = Field(
        default_factory=DeliverySettings,
        description="Where published clips are delivered after the manifest (Shopify media, Merchant and Meta "
        "feeds); every target off by default",
    )


def load_settings(path: str | Path | None) -> RunSettings:
    """The settings in the YAML file at `path` (defaults when None), every local path in it absolute."""
    if path is None:
        return RunSettings()
    path = Path(absolute_location(str(path)))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    try:
        settings = RunSettings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{path}: invalid setting '{'.'.join(map(str, first['loc']))}': {first['msg']}") from None
    return _with_absolute_paths(settings, path.parent)


def _local_model_path(value: str, base: Path) -> str:
    """Weights and LoRA settings name a local folder or a hub id ("org/name"): only what is written as a
    path (./, ../, ~, /) or exists relative to `base` is taken as a path."""
    if value.startswith(("./", "../", "~", "/")) or (base / value).exists():
        return absolute_location(value, base)
    return value


def _with_absolute_paths(settings: RunSettings, base: Path) -> RunSettings:
    updates: dict[str, Any] = {}
    if settings.presets_file:
        updates["presets_file"] = absolute_location(settings.presets_file, base)
    if settings.work_dir:
        updates["work_dir"] = absolute_location(settings.work_dir, base)
    if "uri" in settings.sink.model_fields_set:
        updates["sink"] = settings.sink.model_copy(update={"uri": absolute_location(settings.sink.uri, base)})
    if settings.intake.ca_bundle:
        updates["intake"] = settings.intake.model_copy(
            update={"ca_bundle": absolute_location(settings.intake.ca_bundle, base)}
        )
    engines: dict[str, dict[str, Any]] = {}
    for name, options in settings.engines.items():
        options = dict(options)
        if isinstance(options.get("weights"), str):
            options["weights"] = _local_model_path(options["weights"], base)
        if isinstance(options.get("lora"), dict) and isinstance(options["lora"].get("path"), str):
            options["lora"] = {**options["lora"], "path": _local_model_path(options["lora"]["path"], base)}
        engines[name] = options
    updates["engines"] = engines
    return settings.model_copy(update=updates)


def resolve_run_settings(out: str, settings_file: str | None, presets_file: str | None) -> RunSettings:
    """The settings of one run: the settings file (if any) with the command line's `out` and
    `presets_file` (relative to the current folder). A local `out` is the sink unless the file names
    another; the work folder defaults to `<out>/.work`. Every local path in the result is absolute."""
    settings = load_settings(settings_file or None)  # "" from an unset deployment variable = none
    out = absolute_location(out)
    updates: dict[str, Any] = {}
    if "uri" not in settings.sink.model_fields_set:
        updates["sink"] = settings.sink.model_copy(update={"uri": out})
    if presets_file:
        updates["presets_file"] = absolute_location(presets_file)
    if settings.work_dir is None:
        updates["work_dir"] = str(Path(out) / ".work") if not is_uri(out) else absolute_location(".work")
    return settings.model_copy(update=updates)
