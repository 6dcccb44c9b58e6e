"""The hostile-input corpus through the whole flow (one run over a catalog of hostile rows).

Every case must end with a recorded outcome and reason, nothing may be written outside the output root,
no refused address may see a connection, and the run itself must complete with its invariants holding.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml

from catalog_motion.presets import load_presets
from tests.fixtures.http_servers import CountingListener, Reply, RouteServer
from tests.reliability.conftest import TINY_PRESETS
from tests.reliability.helpers import REPO, file_snapshot, judge, latest_rows, make_sink, run_flow
from tests.reliability.hostile.corpus import FORMULAS, MARK, PAYLOAD, build_photo_corpus, hostile_skus

FIELDS = ["sku", "image", "title", "color", "item_group_id", "updated_at"]


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in FIELDS})
    return path


def _presets_with_strict(path: Path) -> Path:
    """close-up (publishes) plus `strict`, whose drift limit no clip meets: rejections reach the review queue."""
    spec = {"presets": {"close-up": dict(TINY_PRESETS["presets"]["close-up"])}}
    strict = dict(TINY_PRESETS["presets"]["close-up"])
    strict["qc"] = {**strict["qc"], "max_subject_drift": 0.0}
    strict["ask_for_less"] = {"max_attempts": 1}
    spec["presets"]["strict"] = strict
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hostile_run(prefect_api, rel_catalog_src, tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    catalog_dir = base / "catalog"
    shutil.copytree(rel_catalog_src.parent, catalog_dir)
    cases = build_photo_corpus(catalog_dir / "photos")
    good = "images/tee-red.png"

    allowed = RouteServer().start()  # reached only by the name "localhost" (allow-listed)
    forbidden = RouteServer().start()  # 127.0.0.1 literal: must never be contacted
    private = CountingListener("127.0.0.2")  # another loopback address: must never be contacted
    ok_png = (catalog_dir / good).read_bytes()
    svg = (catalog_dir / "photos" / "svg-as-image.png").read_bytes()
    local = f"http://localhost:{allowed.port}"
    allowed.route("/ok.png", Reply(200, ok_png, content_type="image/png"))
    allowed.route("/svg.png", Reply(200, svg, content_type="image/png"))
    allowed.route("/html.jpg", Reply(200, b"<html><body>login</body></html>", content_type="text/html"))
    allowed.route("/huge.png", Reply(200, b"x" * 10, declared_length=10 * 1024**3, content_type="image/png"))
    redirects = {
        "/to-metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "/to-loopback": f"http://127.0.0.1:{forbidden.port}/ok.png",
        "/to-private": private.url("/x.png"),
        "/to-file": "file:///etc/passwd",
        "/to-ipv6-loopback": f"http://[::1]:{forbidden.port}/ok.png",
    }
    for path, target in redirects.items():
        allowed.route(path, Reply(302, b"", headers={"Location": target}))
    allowed.route("/loop", Reply(302, b"", headers={"Location": "/loop"}))
    forbidden.route("/ok.png", Reply(200, ok_png, content_type="image/png"))

    url_cases = {
        "URL-LOOPBACK": (f"http://127.0.0.1:{forbidden.port}/ok.png", "refused"),
        "URL-IPV6-LOOPBACK": (f"http://[::1]:{forbidden.port}/ok.png", "refused"),
        "URL-DECIMAL-LOOPBACK": (f"http://2130706433:{forbidden.port}/ok.png", "refused"),
        "URL-LOOPBACK-2": (private.url("/x.png"), "refused"),
        "URL-HEX-LOOPBACK-2": (f"http://0x7f000002:{private.port}/x.png", "refused"),
        "URL-PRIVATE-10": ("http://10.1.2.3/x.png", "refused"),
        "URL-PRIVATE-192": ("http://192.168.0.10/x.png", "refused"),
        "URL-PRIVATE-172": ("http://172.16.5.5/x.png", "refused"),
        "URL-CGNAT": ("http://100.64.1.1/x.png", "refused"),
        "URL-METADATA-AWS": ("http://169.254.169.254/latest/meta-data/", "refused"),
        "URL-METADATA-ALIBABA": ("http://100.100.100.200/latest/meta-data/", "refused"),
        "URL-METADATA-IPV6": ("http://[fd00:ec2::254]/latest/meta-data/", "refused"),
        "URL-MAPPED-METADATA": ("http://[::ffff:169.254.169.254]/latest/", "refused"),
        "URL-REDIRECT-METADATA": (f"{local}/to-metadata", "refused"),
        "URL-REDIRECT-LOOPBACK": (f"{local}/to-loopback", "refused"),
        "URL-REDIRECT-PRIVATE": (f"{local}/to-private", "refused"),
        "URL-REDIRECT-FILE": (f"{local}/to-file", "refused"),
        "URL-REDIRECT-IPV6": (f"{local}/to-ipv6-loopback", "refused"),
        "URL-REDIRECT-LOOP": (f"{local}/loop", "refused"),
        "URL-CREDENTIALS": (f"http://user:pass@localhost:{allowed.port}/ok.png", "refused"),
        "URL-SVG-SERVED-AS-PNG": (f"{local}/svg.png", "refused"),
        "URL-HTML-SERVED": (f"{local}/html.jpg", "refused"),
        "URL-HUGE-DECLARED": (f"{local}/huge.png", "refused"),
        "URL-ALLOWED-CONTROL": (f"{local}/ok.png", "handled"),
    }
    rows: list[dict[str, str]] = []
    expect: dict[str, str] = {}
    for case in cases:
        sku = f"PHOTO-{case.name}"
        rows.append({"sku": sku, "image": case.ref, "title": case.name})
        expect[sku] = case.expect
    for sku, (url, outcome) in url_cases.items():
        rows.append({"sku": sku, "image": url, "title": "url case"})
        expect[sku] = outcome
    for n, sku in enumerate(s for s in hostile_skus() if "\x00" not in s):
        # a private copy of the photo per formula row: each becomes its own item (and review-queue row)
        image = good
        if any(sku.startswith(f) for f in FORMULAS):
            image = f"photos/formula-{n}.png"
            shutil.copyfile(catalog_dir / good, catalog_dir / image)
        rows.append({"sku": sku, "image": image, "title": FORMULAS[n % len(FORMULAS)], "color": "=1+1"})
        expect[sku.strip()] = "handled"  # the loader trims cells; '\t=1+1' and '\r=1+1' then collide (duplicate)
    catalog = _write_csv(catalog_dir / "hostile.csv", rows)

    presets_file = _presets_with_strict(base / "presets.yaml")
    settings = base / "settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "intake": {
                    "allow_hosts": ["localhost"],
                    "connect_timeout_s": 2,
                    "read_timeout_s": 5,
                    "max_redirects": 3,
                },
                "orchestration": {"retries": 1, "retry_delay_s": 0.05, "batch_size": 8},
            }
        ),
        encoding="utf-8",
    )
    out = base / "out"

    basetemp = tmp_path_factory.getbasetemp()
    excluded = (out, Path(prefect_api.home))
    before = file_snapshot(basetemp, exclude=excluded)
    tmp_before = {p.name for p in Path("/tmp").iterdir()}
    summary, flow_run_id, error = run_flow(
        catalog=str(catalog), out=str(out), settings_file=str(settings), presets_file=str(presets_file)
    )
    after = file_snapshot(basetemp, exclude=excluded)
    tmp_after = {p.name for p in Path("/tmp").iterdir()}
    allowed.stop()
    forbidden.stop()
    private.close()
    yield {
        "summary": summary,
        "error": error,
        "flow_run_id": flow_run_id,
        "catalog": catalog,
        "out": out,
        "expect": expect,
        "cases": cases,
        "presets": list(load_presets(presets_file).values()),
        "new_files": after - before,
        "new_tmp": tmp_after - tmp_before,
        "forbidden_connections": forbidden.connections,
        "private_accepts": private.accepted,
        "allowed_paths": [r.path for r in allowed.requests],
        "settings": settings,
    }


def test_run_completes_and_every_case_has_a_recorded_outcome(hostile_run, rel_results):
    rel_results.add("runs")
    assert hostile_run["error"] is None, f"hostile catalog crashed the run: {hostile_run['error']!r}"
    rel_results.add("runs_survived")
    out = hostile_run["out"]
    rows = latest_rows(make_sink(str(out)))
    by_sku: dict[str, list] = {}
    for row in rows:
        by_sku.setdefault(row.sku, []).append(row)
    problems = []
    for sku, expect in hostile_run["expect"].items():
        got = by_sku.get(sku)
        rel_results.add("hostile_tried")
        if not got:
            problems.append(f"{sku!r}: no manifest row")
            continue
        statuses = {r.status for r in got}
        refused = statuses == {"invalid"}
        rel_results.add("hostile_refused", int(refused))
        rel_results.case(f"hostile:{sku[:60]!r}", "/".join(sorted(statuses)), got[0].reason)
        if expect == "refused" and not refused:
            problems.append(f"{sku!r}: expected refusal, got {statuses} ({got[0].reason})")
        for row in got:
            if row.status != "published" and not row.reason:
                problems.append(f"{sku!r}/{row.preset}: {row.status} without a reason")
            if "\n" in row.reason or len(row.reason) > 2000:
                problems.append(f"{sku!r}: reason is not one short line: {row.reason[:80]!r}")
    assert not problems, "\n".join(problems)
    # the control row proves the allow-list path works (else the URL refusals would prove nothing)
    assert {r.status for r in by_sku["URL-ALLOWED-CONTROL"]} <= {"published", "rejected"}
    reasons = {sku: by_sku[sku][0].reason for sku in hostile_run["expect"] if sku in by_sku}
    assert "cloud-metadata" in reasons["URL-METADATA-AWS"] and "cloud-metadata" in reasons["URL-REDIRECT-METADATA"]
    assert "loopback" in reasons["URL-LOOPBACK"] and "private" in reasons["URL-PRIVATE-10"]
    assert "max_pixels" in reasons["PHOTO-bomb.png"] and "max_pixels" in reasons["PHOTO-enormous.png"]
    report = judge(
        rel_results,
        hostile_run["catalog"],
        hostile_run["presets"],
        rows,
        make_sink(str(out)),
        intake=_intake(hostile_run["settings"]),
    )
    assert report.ok, report.violations
    assert hostile_run["summary"].get("invariants", {"ok": True})["ok"] is True


def _intake(settings_path: Path):
    from catalog_motion.settings import load_settings

    return load_settings(settings_path).intake


def test_refused_addresses_never_see_a_connection(hostile_run, rel_results):
    made = hostile_run["forbidden_connections"] + hostile_run["private_accepts"]
    rel_results.add("refused_connections", made)
    assert made == 0, (hostile_run["forbidden_connections"], hostile_run["private_accepts"])
    # only the allow-listed server was asked, and only for the paths the catalog named
    assert set(hostile_run["allowed_paths"]) <= {
        "/ok.png",
        "/svg.png",
        "/html.jpg",
        "/huge.png",
        "/loop",
        "/to-metadata",
        "/to-loopback",
        "/to-private",
        "/to-file",
        "/to-ipv6-loopback",
    }


def test_nothing_written_outside_the_output_root(hostile_run, rel_results):
    escaped = sorted(hostile_run["new_files"])
    marked_tmp = sorted(name for name in hostile_run["new_tmp"] if MARK in name)
    in_repo = [p for p in file_snapshot(REPO, exclude=(REPO / ".venv", REPO / ".git")) if MARK in p]
    rel_results.add("escaped_files", len(escaped) + len(marked_tmp) + len(in_repo))
    assert not escaped, escaped[:10]
    assert not marked_tmp and not in_repo, (marked_tmp, in_repo)
    # every published object sits under its (sanitised) sku folder inside the output root
    out = hostile_run["out"].resolve()
    for row in latest_rows(make_sink(str(out))):
        for asset in row.assets:
            path = Path(asset.uri).resolve()
            assert out in path.parents and ".." not in asset.key.split("/"), asset.key


def test_polyglot_payloads_never_reach_published_objects(hostile_run):
    rows = latest_rows(make_sink(str(hostile_run["out"])))
    polyglots = {f"PHOTO-{c.name}" for c in hostile_run["cases"] if c.payload}
    published = [r for r in rows if r.sku in polyglots and r.status == "published"]
    assert published, "the polyglot photos were expected to be usable images after normalisation"
    for row in published:
        for asset in row.assets:
            assert PAYLOAD not in Path(asset.uri).read_bytes(), asset.uri
    photos = hostile_run["out"] / ".work" / "photos"
    for photo in photos.glob("*.png") if photos.exists() else []:
        assert PAYLOAD not in photo.read_bytes()


def test_csv_written_by_the_project_neutralises_formulas(hostile_run, rel_results):
    table = hostile_run["out"] / "review" / "review_queue.csv"
    assert table.exists(), "the strict preset should have rejected clips into the review queue"
    with open(table, newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    formula_skus = [c for c in cells if MARK in c and any(f.strip() in c for f in FORMULAS)]
    assert len(formula_skus) >= len(FORMULAS) - 2, formula_skus  # formula SKUs did reach the table
    dangerous = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    rel_results.add("formula_cells_unneutralised", len(dangerous))
    assert not dangerous, dangerous


def test_whole_catalog_refusals_are_one_clear_line(prefect_api, tmp_path, rel_presets_file, rel_results):
    """Catalogs that cannot be read at all (binary, non-UTF-8, empty, NUL) fail the run with one line."""
    cases = {
        "latin1.csv": "sku,image\nCAF\xc9-1,images/x.png\n".encode("latin-1"),
        "nul.csv": b"sku,image\nA\x00B,x.png\n",
        "empty.csv": b"",
        "no-columns.csv": b"name,price\nshirt,10\n",
        "binary.csv": bytes(range(256)) * 4,
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        summary, _, error = run_flow(
            catalog=str(path), out=str(tmp_path / f"out-{name}"), presets_file=str(rel_presets_file)
        )
        rel_results.add("hostile_tried")
        assert summary is None and error is not None, name
        message = str(error)
        assert message and "\n" not in message.strip() and "Traceback" not in message, (name, message)
        rel_results.add("hostile_refused")
        rel_results.case(f"catalog:{name}", "refused", message)
        assert not (tmp_path / f"out-{name}" / "latest.json").exists()
