"""`make soak`: nights of a mixed catalog against flaky S3 and killed workers, judged from the sink itself.

    python -m benchmarks.soak --minutes 30 [--passes N] [--seed S] [--results PATH] [--keep]

One local Prefect server and one moto S3 server live for the whole soak; the sink bucket, the work
folder (journals) and the catalog path persist across passes, as they do across real nights. Each pass:

1. draws the night's catalog from a seeded RNG: most rows from a pool of 10 SKUs over the 7 sample photos
   (SKUs join and leave between passes, photos change so they regenerate), a few broken rows (missing
   photo, bad URL, truncated image, no SKU), a few hostile rows (photos and SKU ids from the hostile
   corpus), and now and then a whole broken night (every photo reference broken);
2. runs the real flow in a subprocess (`tests/reliability/killer.py`) against an S3 sink behind a fresh
   fault proxy (`tests/fixtures/faults.py`, random rate and seed), on threads or, sometimes, processes;
   sometimes the run is SIGKILLed mid-stage (the flow process at generate/encode/publish, or with the
   process runner one worker or the whole process tree) and then run again (resume);
3. measures from the sink, read directly from moto (not through the proxy, not the flow's summary):
   items lost and duplicates (`check_run_invariants` on every run manifest the pass wrote, against a fresh
   load of the catalog), orphans (stored asset keys no `runs/*/manifest.parquet` names) and `latest`
   regressions (a (sku, preset) standing in `latest` before the pass that is not standing after any run
   of the pass, unless its SKU left the catalog while `latest.remove_deleted_skus` was on).

A failed flow run is an expected outcome of a broken night, not a soak failure: only those four counters
are. Running totals and one line per pass go to benchmarks/results/soak.json after every pass; the exit
code is 1 when any of the four is non-zero. Tiny presets (tests/reliability/conftest.py) keep a run to
seconds; the soak imports the reliability suite's fixtures and helpers rather than copying them.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "soak.json"
COUNTERS = ("items_lost", "duplicates", "orphans", "latest_regressions")
"""The four numbers that must stay 0."""
BUCKET = "soak"
PREFIX = "shop"
PHOTO_SIZE = (120, 150)  # the reliability suite's tiny photos
CSV_FIELDS = ["sku", "image", "title", "color", "item_group_id", "updated_at"]
FLOW_TIMEOUT_S = 300.0  # one tiny-catalog run takes seconds; past this it is hung (counted, tree killed)
KILL_STAGES = ("generate", "encode", "publish")
# 10 SKUs over 7 photos: the sample catalog's 8 plus two more sharing photos (one work item, several SKUs).
EXTRA_SKUS = (("TEE-NAVY-L", "tee-navy"), ("DRS-FLORAL-S", "dress-print"))


@dataclass
class PassPlan:
    """What one night throws at the flow (drawn by `SoakCatalog.plan`)."""

    n: int
    skus: list[str]
    changed_photos: list[str]
    broken: list[str]  # kinds of broken rows this night
    hostile: list[str]  # hostile photo case names and 'sku:<i>' hostile SKU ids
    broken_night: bool
    fault_rate: float
    fault_seed: int
    task_runner: str
    kill: str | None  # "generate:1" etc (flow process, threads), "worker" or "tree" (processes), None
    remove_deleted: bool


@dataclass
class PassResult:
    n: int
    plan: dict[str, Any]
    runs: int = 0
    kills: int = 0
    faults_injected: int = 0
    failed_as_expected: int = 0
    failed_unexpectedly: int = 0
    items_lost: int = 0
    duplicates: int = 0
    orphans: int = 0
    latest_regressions: int = 0
    seconds: float = 0.0
    run_outcomes: list[str] = field(default_factory=list)
    run_seconds: list[float] = field(default_factory=list)
    other_violations: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)  # first few problems, one line each

    def note(self, line: str) -> None:
        if len(self.examples) < 8:
            self.examples.append(line[:300])


# --- the night's catalog ------------------------------------------------------------------------------


class SoakCatalog:
    """The catalog folder every night reuses (same path, like a real feed), and the pool's evolving state."""

    def __init__(self, root: Path, seed: int, *, initial_skus: int = 7):
        from catalog_connectors.samples import PHOTOS, SKUS, draw_sample_catalog
        from tests.reliability.hostile.corpus import build_photo_corpus, hostile_skus

        self.root = root
        self.dir = root / "catalog"
        self.csv = self.dir / "catalog.csv"
        self.library = root / "library"
        draw_sample_catalog(self.library, size=PHOTO_SIZE)
        self.photo_files = {name: photo.file for name, photo in PHOTOS.items()}
        self.pool: dict[str, tuple[str, str]] = {s.sku: (s.photo, s.title) for s in SKUS}
        for sku, photo in EXTRA_SKUS:
            self.pool[sku] = (photo, sku.title())
        self.corpus = {case.name: case for case in build_photo_corpus(self.dir / "photos")}
        self.hostile_ids = [s for s in hostile_skus() if "\x00" not in s]  # NUL: a Parquet-only case
        self.rng = random.Random(seed)
        self.present = set(self.rng.sample(sorted(self.pool), initial_skus))
        self.versions: Counter = Counter()
        (self.dir / "images").mkdir(parents=True, exist_ok=True)

    def plan(self, n: int, *, allow_processes: bool = True) -> PassPlan:
        rng = self.rng
        changed: list[str] = []
        if n > 1:
            for sku in sorted(self.pool):
                if sku in self.present and len(self.present) > 4 and rng.random() < 0.12:
                    self.present.discard(sku)
                elif sku not in self.present and rng.random() < 0.3:
                    self.present.add(sku)
            changed = [p for p in sorted(self.photo_files) if rng.random() < 0.15]
            self.versions.update(changed)
        broken_night = n > 1 and rng.random() < 0.12
        processes = allow_processes and rng.random() < 0.3
        kill: str | None = None
        if rng.random() < 0.35:
            kill = rng.choice(("worker", "tree")) if processes else f"{rng.choice(KILL_STAGES)}:{rng.randint(1, 2)}"
        broken = rng.sample(("missing", "bad-url", "truncated", "no-sku"), rng.randint(1, 2))
        hostile = rng.sample(sorted(self.corpus), rng.randint(1, 2)) + [f"sku:{rng.randrange(len(self.hostile_ids))}"]
        return PassPlan(
            n=n,
            skus=sorted(self.present),
            changed_photos=changed,
            broken=broken,
            hostile=hostile,
            broken_night=broken_night,
            fault_rate=round(rng.uniform(0.05, 0.35), 2),
            fault_seed=rng.randrange(1 << 30),
            task_runner="processes" if processes else "threads",
            kill=kill,
            remove_deleted=rng.random() < 0.1,
        )

    def write(self, plan: PassPlan) -> Path:
        """Write the night's photos and catalog.csv (same path every night); returns the CSV."""
        from PIL import Image

        for name, file in self.photo_files.items():
            dest = self.dir / file
            version = self.versions[name]
            if version == 0:
                shutil.copyfile(self.library / file, dest)
                continue
            # A changed photo: the same garment, re-shot a touch darker (new bytes, so it regenerates).
            with Image.open(self.library / file) as im:
                pixels = im.convert("RGB").point(lambda v, f=1 - 0.03 * (1 + version % 6): int(v * f))
                pixels.save(dest, **({"quality": 92} if dest.suffix == ".jpg" else {}))
        rows: list[dict[str, str]] = []
        for sku in plan.skus:
            photo, title = self.pool[sku]
            rows.append(
                {"sku": sku, "image": self.photo_files[photo], "title": title, "item_group_id": sku.rsplit("-", 1)[0]}
            )
        for kind in plan.broken:
            rows.append(self._broken_row(kind, plan.n))
        for name in plan.hostile:
            if name.startswith("sku:"):
                sku = self.hostile_ids[int(name[4:])]
                rows.append({"sku": sku, "image": "images/tee-red.png", "title": "hostile id", "color": "=1+1"})
            else:
                rows.append({"sku": f"HOSTILE-{name}", "image": self.corpus[name].ref, "title": "hostile photo"})
        if plan.broken_night:  # every photo path broken: the feed's image host moved overnight
            for i, row in enumerate(rows):
                row["image"] = f"images/gone-{i}.png"
        with open(self.csv, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: row.get(k, "") for k in CSV_FIELDS})
        return self.csv

    def _broken_row(self, kind: str, n: int) -> dict[str, str]:
        if kind == "missing":
            return {"sku": "BROKEN-MISSING", "image": f"images/not-there-{n}.png", "title": "missing photo"}
        if kind == "bad-url":
            url = self.rng.choice(("http://bad host/x.png", "http://127.0.0.1:9/x.png", "htp:/x.png"))
            return {"sku": "BROKEN-URL", "image": url, "title": "bad url"}
        if kind == "truncated":
            data = (self.library / "images" / "tote-tan.png").read_bytes()
            (self.dir / "images" / "truncated.png").write_bytes(data[: len(data) // 3])
            return {"sku": "BROKEN-TRUNCATED", "image": "images/truncated.png", "title": "truncated photo"}
        return {"sku": "", "image": "images/tee-navy.png", "title": "row without an sku"}


# --- the sink, read directly ----------------------------------------------------------------------------


class SinkReader:
    """The soak's own view of the bucket: moto spoken to directly, past the fault proxy."""

    def __init__(self, endpoint: str, bucket: str = BUCKET, prefix: str = PREFIX):
        import boto3

        from tests.reliability.helpers import make_sink

        self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        self.bucket, self.prefix = bucket, prefix
        self.sink = make_sink(f"s3://{bucket}/{prefix}", endpoint)
        self._parquet: dict[tuple[str, str], set[str]] = {}  # (key, etag) -> asset keys it names

    def objects(self) -> dict[str, str]:
        """Every stored key (relative to the sink prefix) and its ETag."""
        found: dict[str, str] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/"):
            for item in page.get("Contents", []):
                found[item["Key"][len(self.prefix) + 1 :]] = item["ETag"]
        return found

    def manifests(self) -> dict[str, str]:
        """runs/<id>/manifest.json key -> ETag: what changed across a run shows which manifests it wrote."""
        return {k: v for k, v in self.objects().items() if k.startswith("runs/") and k.endswith("/manifest.json")}

    def run_rows(self, run_id: str) -> list[Any]:
        from publishing.manifest import ManifestStore

        return ManifestStore(self.sink).read_run(run_id)

    def latest_standing(self) -> set[tuple[str, str]]:
        from catalog_motion.types import STANDING
        from tests.reliability.helpers import latest_rows

        return {(r.sku, r.preset) for r in latest_rows(self.sink) if r.status in STANDING}

    def orphans(self) -> set[str]:
        """Stored asset keys (not runs/, latest/, latest.json) that no runs/*/manifest.parquet names."""
        from publishing.manifest import rows_from_parquet

        stored = self.objects()
        named: set[str] = set()
        for key, etag in stored.items():
            if key.startswith("runs/") and key.endswith("/manifest.parquet"):
                if (key, etag) not in self._parquet:
                    data = self.client.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}")["Body"].read()
                    self._parquet[(key, etag)] = {a.key for r in rows_from_parquet(data) for a in r.assets if a.key}
                named |= self._parquet[(key, etag)]
        return orphan_keys(stored, named)


def orphan_keys(stored: Any, named: set[str]) -> set[str]:
    """Asset keys in `stored` that no manifest names (run manifests, `latest` and its pointer excluded)."""
    assets = {k for k in stored if not k.startswith(("runs/", "latest/")) and k != "latest.json"}
    return assets - named


def latest_regressions(
    before: set[tuple[str, str]],
    after: set[tuple[str, str]],
    catalog_skus: set[str],
    *,
    remove_deleted: bool,
) -> set[tuple[str, str]]:
    """(sku, preset) standing in `latest` before and not after, unless the SKU left the catalog while
    deletions were on (the only way a live video may go)."""
    return {(sku, p) for sku, p in before - after if sku in catalog_skus or not remove_deleted}


# --- running the flow -----------------------------------------------------------------------------------


def _tree(pid: int) -> list[Any]:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _pool_workers(pid: int) -> list[Any]:
    import psutil

    workers = []
    for child in _tree(pid):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.Error:
            pass
    return workers


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the run's whole process group (it was started as a session leader): flow, pool workers, ffmpeg."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_flow_subprocess(params: dict[str, Any], env: dict[str, str], kill: str | None, log: Path) -> tuple[int, bool]:
    """Run catalog_run in a child process; (exit code, killed by the soak). kill: REL_KILL_AT spec for the
    flow process itself, or 'worker'/'tree': SIGKILL one process-pool worker, or the whole process tree,
    a moment after the first worker has started work."""
    run_env = dict(env)
    if kill and kill not in ("worker", "tree"):
        run_env["REL_KILL_AT"] = kill
    with open(log, "ab") as out:
        out.write(f"\n--- run kill={kill} at {time.strftime('%H:%M:%S')}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.killer", json.dumps(params)],
            cwd=str(ROOT),
            env=run_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    killed = threading.Event()
    if kill in ("worker", "tree"):

        def watch() -> None:
            deadline = time.monotonic() + FLOW_TIMEOUT_S
            while proc.poll() is None and time.monotonic() < deadline:
                workers = _pool_workers(proc.pid)
                if workers:
                    time.sleep(random.uniform(0.5, 3.0))  # let it get into a stage
                    if proc.poll() is not None:
                        return
                    killed.set()
                    if kill == "tree":
                        _kill_group(proc)
                    else:
                        try:
                            random.choice(workers).send_signal(signal.SIGKILL)
                        except Exception:  # noqa: BLE001 - the worker may have just exited
                            killed.clear()
                    return
                time.sleep(0.1)

        threading.Thread(target=watch, daemon=True).start()
    try:
        rc = proc.wait(timeout=FLOW_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        rc = proc.wait()
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"\n--- hung: killed after {FLOW_TIMEOUT_S:.0f} s\n")
        return 124, False
    _kill_group(proc)  # pool workers or ffmpeg of a killed flow must not outlive it
    text = log.read_text(encoding="utf-8", errors="replace")
    flow_killed = bool(kill and kill not in ("worker", "tree") and rc == -signal.SIGKILL and "KILLING at" in text)
    return rc, flow_killed or killed.is_set()


# --- the soak ------------------------------------------------------------------------------------------


class Soak:
    """Passes against one Prefect server and one S3 endpoint (either started here or handed in by a test)."""

    def __init__(
        self,
        root: Path,
        *,
        seed: int,
        s3_endpoint: str,
        prefect_env: dict[str, str],
        results: Path | None = RESULTS,
        allow_processes: bool = True,
        bucket: str = BUCKET,
        initial_skus: int = 7,
        presets: list[str] | None = None,
    ):
        import boto3

        from tests.fixtures.s3 import DUMMY_ENV
        from tests.reliability.conftest import TINY_PRESETS
        from tests.reliability.helpers import subprocess_env

        self.root, self.seed, self.s3_endpoint, self.results = root, seed, s3_endpoint, results
        self.allow_processes, self.bucket = allow_processes, bucket
        boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
        self.catalog = SoakCatalog(root, seed, initial_skus=initial_skus)
        self.presets_file = root / "presets.yaml"
        chosen = {k: v for k, v in TINY_PRESETS["presets"].items() if presets is None or k in presets}
        self.presets_file.write_text(yaml.safe_dump({"presets": chosen}), encoding="utf-8")
        self.settings_file = root / "settings.yaml"
        self.out = root / "out"
        self.env = subprocess_env({**prefect_env, **DUMMY_ENV, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"})
        self.reader = SinkReader(s3_endpoint, bucket)
        self.passes: list[PassResult] = []
        self.orphans_seen: set[str] = set()
        self.started = time.time()

    def _settings(self, plan: PassPlan, proxy_url: str) -> dict[str, Any]:
        return {
            "sink": {"uri": f"s3://{self.bucket}/{PREFIX}", "endpoint_url": proxy_url},
            "work_dir": str(self.root / "work"),
            "intake": {"connect_timeout_s": 2, "read_timeout_s": 5, "max_retries": 1, "backoff_s": 0.05},
            "orchestration": {
                "task_runner": plan.task_runner,
                "max_workers": 2,
                "batch_size": 2,
                "retries": 4,
                "retry_delay_s": 0.05,
                "retry_jitter_factor": 0.1,
            },
            "latest": {"remove_deleted_skus": plan.remove_deleted},
        }

    def run_pass(self, plan: PassPlan) -> PassResult:
        from catalog_connectors.sources import load_catalog
        from catalog_motion.invariants import check_run_invariants, expected_rows
        from catalog_motion.presets import load_presets
        from catalog_motion.settings import load_settings
        from tests.fixtures.faults import FaultPlan, FaultProxy

        started = time.monotonic()
        result = PassResult(n=plan.n, plan=asdict(plan))
        catalog = self.catalog.write(plan)
        before = self.reader.latest_standing()
        proxy = FaultProxy(
            self.s3_endpoint, FaultPlan(rate=plan.fault_rate, seed=plan.fault_seed, slow_s=0.2, max_consecutive=2)
        ).start()
        try:
            self.settings_file.write_text(yaml.safe_dump(self._settings(plan, proxy.url)), encoding="utf-8")
            settings = load_settings(self.settings_file)
            load = load_catalog(str(catalog), settings.intake)  # the soak's own fresh load, for judging
            catalog_skus = {r.sku for r in load.rows} | {o.sku for o in load.refused if o.sku}
            presets = list(load_presets(self.presets_file).values())
            called_for = {(sku, preset) for sku, preset, _ in expected_rows(load, [p.name for p in presets])}
            params = {
                "catalog": str(catalog),
                "out": str(self.out),
                "settings_file": str(self.settings_file),
                "presets_file": str(self.presets_file),
            }
            log = self.root / "logs" / f"pass-{plan.n:04d}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            kills = [plan.kill, None] if plan.kill else [None]  # a killed run is run again: it must resume
            regressed: set[tuple[str, str]] = set()
            for kill in kills:
                manifests_before = self.reader.manifests()
                run_started = time.monotonic()
                rc, killed = run_flow_subprocess(params, self.env, kill, log)
                result.run_seconds.append(round(time.monotonic() - run_started, 1))
                result.runs += 1
                if killed:
                    result.kills += 1
                    result.run_outcomes.append(f"killed ({kill})")
                elif rc == 0:
                    result.run_outcomes.append("completed")
                elif plan.broken_night:
                    result.failed_as_expected += 1
                    result.run_outcomes.append(f"failed as expected (rc {rc})")
                else:
                    result.failed_unexpectedly += 1
                    result.run_outcomes.append(f"failed (rc {rc})")
                    result.note(f"run {result.runs} failed with rc {rc} on a good night: {_last_error(log)}")
                written = {
                    key.split("/")[1]
                    for key, etag in self.reader.manifests().items()
                    if manifests_before.get(key) != etag
                }
                if not killed and not written and not plan.broken_night:
                    lost = len(catalog_skus) * len(presets)
                    result.items_lost += lost
                    result.note(f"run {result.runs} wrote no manifest: {lost} (sku, preset) unaccounted for")
                for run_id in sorted(written):
                    rows = self.reader.run_rows(run_id)
                    # Rows the catalog does not call for are `latest`'s live rows carried forward (SKUs that left).
                    carried = {(r.sku, r.preset) for r in rows} - called_for
                    report = check_run_invariants(load, presets, rows, self.reader.sink, carried=carried)
                    result.items_lost += report.counts.get("missing", 0)
                    result.duplicates += report.counts.get("duplicate", 0)
                    for kind, count in report.counts.items():
                        if kind not in ("missing", "duplicate"):
                            result.other_violations[kind] = result.other_violations.get(kind, 0) + count
                    for v in report.violations:
                        if v.kind in ("missing", "duplicate"):
                            result.note(f"{v.kind} {v.sku}/{v.preset}: {v.detail} (run {run_id})")
                # `latest` after every run, not only the last: a live video must never go, even for a while.
                lost_live = latest_regressions(
                    before, self.reader.latest_standing(), catalog_skus, remove_deleted=plan.remove_deleted
                )
                for sku, preset in sorted(lost_live - regressed):
                    result.note(
                        f"latest regression {sku!r}/{preset} after run {result.runs} ({result.run_outcomes[-1]})"
                    )
                regressed |= lost_live
                if not killed:
                    break  # the kill never came (nothing reached that stage): no resume to do
            result.latest_regressions = len(regressed)
            orphans = self.reader.orphans()
            new_orphans = orphans - self.orphans_seen
            self.orphans_seen |= orphans
            result.orphans = len(new_orphans)
            for key in sorted(new_orphans)[:3]:
                result.note(f"orphan {key}")
        finally:
            proxy.stop()
            result.faults_injected = proxy.log.injected
        result.seconds = round(time.monotonic() - started, 1)
        self.passes.append(result)
        return result

    def totals(self) -> dict[str, Any]:
        keys = ("runs", "kills", "faults_injected", "failed_as_expected", "failed_unexpectedly", *COUNTERS)
        totals: dict[str, Any] = {"passes": len(self.passes)}
        totals.update({k: sum(getattr(p, k) for p in self.passes) for k in keys})
        totals["broken_nights"] = sum(p.plan["broken_night"] for p in self.passes)
        totals["process_runner_passes"] = sum(p.plan["task_runner"] == "processes" for p in self.passes)
        totals["seconds"] = round(time.time() - self.started, 1)
        return totals

    def ok(self) -> bool:
        totals = self.totals()
        return all(totals[k] == 0 for k in COUNTERS)

    def write_results(self, minutes: float | None) -> None:
        if self.results is None:
            return
        payload = {
            "tool": "benchmarks/soak.py",
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "minutes": minutes,
            "seed": self.seed,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "ok": self.ok(),
            "totals": self.totals(),
            "passes": [asdict(p) for p in self.passes],
        }
        self.results.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.results.with_name(self.results.name + ".tmp")
        tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        tmp.replace(self.results)


def _last_error(log: Path) -> str:
    lines = [ln.strip() for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line[:200]
    return lines[-1][:200] if lines else "(no output)"


def pass_line(p: PassResult) -> str:
    plan = p.plan
    night = "BROKEN NIGHT" if plan["broken_night"] else f"{len(plan['skus'])} skus"
    counters = " ".join(f"{k}={getattr(p, k)}" for k in COUNTERS)
    return (
        f"pass {p.n:3d} [{night}, {plan['task_runner']}, kill={plan['kill'] or '-'}, faults={p.faults_injected}]"
        f" {', '.join(p.run_outcomes)} | {counters} | {p.seconds:.0f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="Start no new pass after this long")
    parser.add_argument("--passes", type=int, default=None, help="Stop after this many passes (default: no limit)")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000, help="Seed of the whole soak")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Where the running totals go")
    parser.add_argument("--keep", action="store_true", help="Keep the soak's folder (logs, work, catalog)")
    args = parser.parse_args(argv)

    from flows.server import start_prefect_server, stop_prefect_server
    from tests.fixtures.s3 import DUMMY_ENV, MotoServer

    os.environ.update(DUMMY_ENV)  # moto's dummy credentials, for this process and the flow's
    root = Path(tempfile.mkdtemp(prefix="soak-"))
    print(f"soak: seed {args.seed}, {args.minutes:g} min, folder {root}", flush=True)
    deadline = time.monotonic() + args.minutes * 60
    server = start_prefect_server(root / "prefect-home")
    moto = MotoServer().start()
    soak = None
    try:
        soak = Soak(root, seed=args.seed, s3_endpoint=moto.url, prefect_env=server.env, results=args.results)
        n = 0
        while time.monotonic() < deadline and (args.passes is None or n < args.passes):
            n += 1
            result = soak.run_pass(soak.catalog.plan(n, allow_processes=soak.allow_processes))
            print(pass_line(result), flush=True)
            for line in result.examples:
                print(f"          {line}", flush=True)
            soak.write_results(args.minutes)
    finally:
        moto.stop()
        stop_prefect_server(server)
        if soak is not None:
            soak.write_results(args.minutes)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    totals = soak.totals()
    print("soak totals: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    if not soak.ok():
        bad = ", ".join(f"{k} {totals[k]}" for k in COUNTERS if totals[k])
        print(f"soak FAILED: {bad} (must be 0); per-pass lines in {args.results}")
        return 1
    print(f"soak ok: nothing lost, duplicated, orphaned or taken out of latest; results in {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
