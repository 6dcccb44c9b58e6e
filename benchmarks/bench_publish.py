"""Publishing benchmark: encode pipeline vs bare ffmpeg on the same frames, and publish throughput to S3.

Encode: for each packaged preset, a full-size lossless master clip (photo-like synthetic content) is
made once, in the pipeline's default master format (raw rgb24 NUT; `--master-format lossless-h264` for
the compact one); the frames it pipes are also dumped once to a raw file. For every video encoding we time
  pipeline  `encode_variants` with a preset holding only that encoding (PyAV reads the master, frames
            piped through ffmpeg-python's argv, temp file + rename),
  bare      the identical ffmpeg argv (`build_video_command`) reading the raw frames file directly,
  direct    ffmpeg reading the master file itself (the alternative to piping),
and the whole preset (all encodings at once, one decode shared) against the sum of bare runs plus the
posters saved on their own (Pillow, from the first frame, as the pipeline does).
Overhead target: pipeline / bare - 1 < 10 %. Times are the minimum of --reps runs (shared CPU).

Publish: N distinct (sku, preset) variants (a video + poster each, sizes like real encodes) to a moto S3
server over loopback HTTP: objects/s and MB/s for the first publish, and the time of the no-op re-run.

    .venv/bin/python benchmarks/bench_publish.py [--reps 3] [--quick] [--variants 40] [--master-format raw]
writes benchmarks/results/publish.json and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from catalog_motion.media import MASTER_SUFFIX, ffmpeg_exe, iter_frames, write_master  # noqa: E402
from catalog_motion.presets import Preset, load_presets  # noqa: E402
from catalog_motion.types import ClipRef  # noqa: E402
from publishing.encode import OUTPUTS, MasterFrames, build_video_command, encode_variants, save_poster  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "publish.json"


def photo_like_frames(width: int, height: int, n: int, seed: int = 0):
    """A soft-lit 'garment' (smooth shading + woven texture) under a slow camera push-in."""
    rng = np.random.default_rng(seed)
    big_w, big_h = int(width * 1.2), int(height * 1.2)
    yy, xx = np.mgrid[0:big_h, 0:big_w].astype(np.float32)
    weave = 10 * np.sin(xx / 2.3) * np.sin(yy / 2.9) + rng.normal(0, 3, (big_h, big_w))
    body = ((xx - big_w / 2) / (big_w * 0.32)) ** 2 + ((yy - big_h / 2) / (big_h * 0.4)) ** 2 < 1
    shade = 0.75 + 0.25 * np.cos((xx - big_w / 2) / big_w * 3.0)
    canvas = np.full((big_h, big_w, 3), 238.0, np.float32)
    colour = np.array([150, 60, 70], np.float32)
    canvas[body] = colour * shade[body, None] + weave[body, None]
    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    import cv2

    for t in range(n):
        zoom = 1.0 + 0.15 * t / max(1, n - 1)
        w, h = big_w / zoom / 1.2 * 1.0, big_h / zoom / 1.2
        x0, y0 = (big_w - w) / 2, (big_h - h) / 2
        matrix = np.array([[width / w, 0, -x0 * width / w], [0, height / h, -y0 * height / h]], np.float32)
        yield cv2.warpAffine(canvas, matrix, (width, height), flags=cv2.INTER_LINEAR)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cpu_now() -> float:
    """CPU seconds of this process (all threads) and its finished children: steadier than wall time on a
    shared machine, and what the pipeline's extra work (decode, copies, pipes) really costs."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(fn, reps: int) -> tuple[float, float]:
    """(min wall seconds, min CPU seconds) over `reps` runs."""
    walls, cpus = [], []
    for _ in range(reps):
        cpu0, wall0 = cpu_now(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - wall0)
        cpus.append(cpu_now() - cpu0)
    return min(walls), min(cpus)


def run_argv(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True)
    if done.returncode:
        raise RuntimeError(done.stderr.decode(errors="replace")[-400:])


def bench_encode(presets: list[Preset], work: Path, reps: int, master_format: str = "raw") -> list[dict]:
    rows = []
    for preset in presets:
        master = work / f"{preset.name}{MASTER_SUFFIX[master_format]}"
        write_master(photo_like_frames(preset.width, preset.height, preset.n_frames), master, preset.fps)
        clip = ClipRef(
            path=str(master),
            fps=preset.fps,
            n_frames=preset.n_frames,
            width=preset.width,
            height=preset.height,
            engine="bench",
            seed=0,
        )
        raw = work / f"{preset.name}.raw"
        frames = MasterFrames(master)  # the exact bytes the pipeline pipes (rgb24 or planar GBR)
        with open(raw, "wb") as handle:
            for buffers in frames:
                for buffer in buffers:
                    handle.write(buffer)
        frames.close()
        bare_total = bare_cpu_total = 0.0

        def decode_only() -> None:
            source = MasterFrames(master)
            for _ in source:
                pass
            source.close()

        decode_s, decode_cpu = measure(decode_only, reps)
        for spec in [s for s in preset.encodings if s.is_video]:
            single = preset.model_copy(update={"encodings": [spec]})
            out = work / f"{preset.name}-{spec.format}"
            suffix = ".mp4" if spec.format == "mp4-h264" else ".webm"
            bare_argv = build_video_command(
                spec,
                preset,
                preset.width,
                preset.height,
                preset.fps,
                work / f"bare{suffix}",
                source=str(raw),
                pix_fmt=frames.pix_fmt,
                stride=frames.stride,
            )
            # Same command, but ffmpeg decodes the master itself (no Python in the frame path).
            direct_argv = list(bare_argv)
            index = direct_argv.index(str(raw))
            direct_argv[1 : index + 1] = ["-i", str(master)]  # drop the rawvideo input options
            pipeline, pipeline_cpu, bare, bare_cpu, direct, direct_cpu = [float("inf")] * 6
            for _ in range(reps):  # interleaved, so load from other processes hits all three alike
                wall, cpu = measure(lambda: encode_variants(clip, single, out), 1)
                pipeline, pipeline_cpu = min(pipeline, wall), min(pipeline_cpu, cpu)
                wall, cpu = measure(lambda: run_argv(bare_argv), 1)
                bare, bare_cpu = min(bare, wall), min(bare_cpu, cpu)
                wall, cpu = measure(lambda: run_argv(direct_argv), 1)
                direct, direct_cpu = min(direct, wall), min(direct_cpu, cpu)
            bare_total += bare
            bare_cpu_total += bare_cpu
            size = os.path.getsize(out / ("video.mp4" if suffix == ".mp4" else "video.webm"))
            rows.append(
                {
                    "preset": preset.name,
                    "format": spec.format,
                    "size": f"{preset.width}x{preset.height}",
                    "frames": preset.n_frames,
                    "pipeline_s": round(pipeline, 3),
                    "bare_ffmpeg_s": round(bare, 3),
                    "direct_master_s": round(direct, 3),
                    "overhead_pct": round(100 * (pipeline / bare - 1), 1),
                    "pipeline_cpu_s": round(pipeline_cpu, 3),
                    "bare_cpu_s": round(bare_cpu, 3),
                    "direct_cpu_s": round(direct_cpu, 3),
                    "cpu_overhead_pct": round(100 * (pipeline_cpu / bare_cpu - 1), 1),
                    "master_decode_cpu_s": round(decode_cpu, 3),
                    # What the pipeline adds beyond decoding the master (which any reader of it must do):
                    "plumbing_cpu_overhead_pct": round(100 * ((pipeline_cpu - decode_cpu) / bare_cpu - 1), 1),
                    "overhead_vs_direct_pct": round(100 * (pipeline / direct - 1), 1),
                    "bytes": size,
                    "kbps": round(size * 8 / preset.duration_s / 1000),
                }
            )
        posters = [s for s in preset.encodings if not s.is_video]
        if posters:
            first = next(iter_frames(master))

            def save_posters() -> None:
                for spec in posters:
                    save_poster(first, spec, preset, work / f"bare-{OUTPUTS[spec.format][1]}")

            poster_s, poster_cpu = measure(save_posters, reps)
            bare_total += poster_s
            bare_cpu_total += poster_cpu
        everything, everything_cpu = measure(lambda: encode_variants(clip, preset, work / f"{preset.name}-all"), reps)
        rows.append(
            {
                "preset": preset.name,
                "format": "all (" + ",".join(s.format for s in preset.encodings) + ")",
                "size": f"{preset.width}x{preset.height}",
                "frames": preset.n_frames,
                "pipeline_s": round(everything, 3),
                "bare_ffmpeg_s": round(bare_total, 3),
                "overhead_pct": round(100 * (everything / bare_total - 1), 1),
                "pipeline_cpu_s": round(everything_cpu, 3),
                "bare_cpu_s": round(bare_cpu_total, 3),
                "cpu_overhead_pct": round(100 * (everything_cpu / bare_cpu_total - 1), 1),
                "master_decode_cpu_s": round(decode_cpu, 3),
                "plumbing_cpu_overhead_pct": round(100 * ((everything_cpu - decode_cpu) / bare_cpu_total - 1), 1),
            }
        )
    return rows


def bench_s3(work: Path, variants: int) -> dict:
    from catalog_motion.settings import SinkSettings
    from publishing.encode import LocalAsset
    from publishing.publish import publish_variant
    from publishing.sinks import make_sink
    from tests.fixtures.s3 import DUMMY_ENV, MotoServer

    os.environ.update(DUMMY_ENV)
    rng = np.random.default_rng(1)
    items = []
    for i in range(variants):
        folder = work / "s3" / f"v{i}"
        folder.mkdir(parents=True)
        (folder / "video.mp4").write_bytes(rng.bytes(int(rng.integers(800_000, 2_500_000))))
        (folder / "poster.jpg").write_bytes(rng.bytes(int(rng.integers(80_000, 200_000))))
        items.append(
            (
                f"SKU-{i:04d}",
                [
                    LocalAsset(kind="video", path=str(folder / "video.mp4"), content_type="video/mp4"),
                    LocalAsset(kind="poster_jpeg", path=str(folder / "poster.jpg"), content_type="image/jpeg"),
                ],
            )
        )
    total = sum(os.path.getsize(a.path) for _, assets in items for a in assets)
    big = work / "s3" / "big.mp4"
    big.write_bytes(rng.bytes(64 * 1024 * 1024))
    with MotoServer() as server:
        import boto3

        boto3.client("s3", endpoint_url=server.url, region_name="us-east-1").create_bucket(Bucket="bench")
        settings = SinkSettings(uri="s3://bench/catalog", endpoint_url=server.url)
        sink = make_sink(settings)
        first_assets: list = []
        first = timed(
            lambda: first_assets.extend(
                publish_variant(
                    sku=s,
                    preset="product-page",
                    assets=a,
                    sink=sink,
                    metadata={"engine": "camera", "seed": 1, "qc": {"subject_drift": 0.1}},
                )
                for s, a in items
            )
        )
        rerun_sink = make_sink(settings)
        rerun = timed(
            lambda: [
                publish_variant(sku=s, preset="product-page", assets=a, sink=rerun_sink, metadata={}) for s, a in items
            ]
        )
        multipart = timed(lambda: sink.put(big, "big/video.mp4", "video/mp4", {}, kind="video"))
        from catalog_motion.types import ManifestRow
        from publishing.manifest import ManifestStore

        rows = [
            ManifestRow(sku=s, preset="product-page", status="published", assets=stored)
            for (s, _), stored in zip(items, first_assets, strict=True)
        ]
        manifest_s = timed(lambda: ManifestStore(make_sink(settings)).write_run("bench", rows))
    return {
        "variants": variants,
        "objects": sink.uploads - 1,
        "bytes": total,
        "first_publish_s": round(first, 3),
        "objects_per_s": round(2 * variants / first, 1),
        "MB_per_s": round(total / 1e6 / first, 1),
        "rerun_s": round(rerun, 3),
        "rerun_uploads": rerun_sink.uploads,
        "manifest_write_verified_s": round(manifest_s, 3),
        "multipart_64MiB_s": round(multipart, 3),
        "multipart_MB_per_s": round(64 * 1.048576 / multipart, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="runs per measurement (minimum is kept)")
    parser.add_argument("--quick", action="store_true", help="1 s clips instead of the presets' durations")
    parser.add_argument("--variants", type=int, default=40, help="variants published in the S3 benchmark")
    parser.add_argument("--presets", nargs="*", default=None, help="preset names (default: all packaged)")
    parser.add_argument("--s3-only", action="store_true", help="skip the encode benchmark")
    parser.add_argument(
        "--master-format",
        choices=sorted(MASTER_SUFFIX),
        default="raw",
        help="master clip format the encodes read (the pipeline's default: raw)",
    )
    args = parser.parse_args(argv)
    presets = [p for name, p in load_presets().items() if not args.presets or name in args.presets]
    if args.quick:
        presets = [p.model_copy(update={"duration_s": 1.0}) for p in presets]
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        work = Path(tmp)
        encode = [] if args.s3_only else bench_encode(presets, work, args.reps, args.master_format)
        s3 = bench_s3(work, args.variants)
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "ffmpeg": ffmpeg_exe()},
        "reps": args.reps,
        "quick": args.quick,
        "master_format": args.master_format,
        "encode": encode,
        "s3": s3,
        "max_overhead_pct_single_encodings": max(
            (r["overhead_pct"] for r in encode if not r["format"].startswith("all")), default=None
        ),
        "max_plumbing_cpu_overhead_pct": max((r["plumbing_cpu_overhead_pct"] for r in encode), default=None),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    print(
        f"{'preset':13} {'format':16} {'pipeline':>9} {'bare':>7} {'direct':>7} {'overhead':>8} "
        f"{'cpu ovh':>8} {'plumbing':>8} {'kbps':>6}"
    )
    for r in encode:
        fmt = "all encodings" if r["format"].startswith("all") else r["format"]
        direct = f"{r['direct_master_s']:6.2f}s" if "direct_master_s" in r else "      -"
        print(
            f"{r['preset']:13} {fmt:16} {r['pipeline_s']:8.2f}s {r['bare_ffmpeg_s']:6.2f}s {direct} "
            f"{r['overhead_pct']:7.1f}% {r['cpu_overhead_pct']:7.1f}% {r['plumbing_cpu_overhead_pct']:7.1f}% "
            f"{r.get('kbps', ''):>6}"
        )
    print(
        "overhead: wall time over bare ffmpeg reading the same raw frames from a file; cpu ovh: same in CPU "
        "seconds; plumbing: CPU beyond the master decode (master_decode_cpu_s) that any reader pays"
    )
    print(
        f"S3: {s3['variants']} variants, {s3['bytes'] / 1e6:.0f} MB in {s3['first_publish_s']:.2f}s "
        f"({s3['objects_per_s']} objects/s, {s3['MB_per_s']} MB/s); re-run {s3['rerun_s']:.2f}s with "
        f"{s3['rerun_uploads']} uploads; manifest (every object HEAD-verified) {s3['manifest_write_verified_s']:.2f}s; "
        f"64 MiB multipart {s3['multipart_MB_per_s']} MB/s"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return result


if __name__ == "__main__":
    main()
