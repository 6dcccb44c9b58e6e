"""Exit non-zero unless the demo's current manifest accounts for every sample SKU x preset as published.

Used by .ci/run right after `make demo`: a demo that runs but publishes less is a failed quick start.
Usage: python scripts/check_demo.py [OUT] [EXPECTED_ROWS]   (defaults: out/demo 24)
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def main(out: str = "out/demo", expected: str = "24") -> int:
    manifest_path = Path(out) / "latest" / "manifest.json"
    if not manifest_path.is_file():
        print(f"demo check: no manifest at {manifest_path}: `make demo` did not publish a run", file=sys.stderr)
        return 1
    rows = json.loads(manifest_path.read_text(encoding="utf-8"))["rows"]
    counts = Counter(row["status"] for row in rows)
    not_published = [
        f"{r['sku']}/{r['preset']}: {r['status']} ({r['reason']})" for r in rows if r["status"] != "published"
    ]
    if len(rows) != int(expected) or not_published:
        print(
            f"demo check: {len(rows)} rows (expected {expected}), {dict(counts)}; "
            f"first not published: {not_published[:3]}",
            file=sys.stderr,
        )
        return 1
    print(f"demo check: all {len(rows)} rows published ({manifest_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
