"""Run every benchmarks/bench_*.py `main()` in turn (continuing past failures); write results/summary.md.

python -m benchmarks.run_all [NAME ...]     # e.g. python -m benchmarks.run_all pipeline
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"


def discover(names: list[str] | None = None) -> list[str]:
    found = sorted(p.stem for p in ROOT.glob("bench_*.py"))
    if names:
        wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in names}
        found = [f for f in found if f in wanted]
    return found


def _flatten(result: object, prefix: str = "") -> list[tuple[str, str]]:
    if not isinstance(result, dict):
        return [(prefix or "result", str(result))]
    lines: list[tuple[str, str]] = []
    for key, value in result.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and len(value) <= 12:
            lines += _flatten(value, name)
        elif isinstance(value, (list, dict)):
            lines.append((name, json.dumps(value)[:200]))
        else:
            lines.append((name, str(value)))
    return lines


def main(argv: list[str] | None = None) -> int:
    names = discover(argv if argv is not None else sys.argv[1:])
    RESULTS.mkdir(parents=True, exist_ok=True)
    sections = ["# Benchmark summary", "", f"Run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", ""]
    failures = 0
    for name in names:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            result = module.main([]) if _takes_argv(module.main) else module.main()
            status = "ok"
        except BaseException as exc:  # noqa: BLE001 - keep going to the next benchmark
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures += 1
            result = None
            status = f"FAILED: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            traceback.print_exc()
        seconds = time.perf_counter() - started
        sections += [f"## {name.removeprefix('bench_')}", "", f"{status} ({seconds:.0f} s)", ""]
        if isinstance(result, dict):
            sections += ["| metric | value |", "|---|---|"]
            sections += [f"| {k} | {v} |" for k, v in _flatten(result)]
            sections.append("")
    (RESULTS / "summary.md").write_text("\n".join(sections), encoding="utf-8")
    print(f"summary: {RESULTS / 'summary.md'} ({len(names) - failures}/{len(names)} ok)")
    return 1 if failures else 0


def _takes_argv(fn) -> bool:
    import inspect

    try:
        return bool(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(main())
