"""`catalog-motion qc`: score any clip against its source photo with a preset's thresholds.

Exit 0: the clip passes; 1: it fails (each reason names the check, the value, the limit and where);
2: the input cannot be scored (missing, empty, corrupt or not a video, an unreadable photo): one line
"error: ..." on stderr, raised as a QCInputError by the readers and printed by flows/cli.py.
"""

from __future__ import annotations

import json

import typer

TEXT_SCORES = (
    "drift",
    "drift_last",
    "flicker",
    "warp_error",
    "flashes_per_s",
    "black_frames",
    "frozen_s",
    "loop_seam",
    "duration_s",
    "motion_camera_pct",
    "motion_local_pct",
)


def findings_of(reasons: list[str]) -> list[dict[str, str]]:
    """One entry per reason: the check it names (a reason starts with "check: ") and the reason itself."""
    return [{"check": reason.split(":", 1)[0].strip(), "reason": reason} for reason in reasons]


def register(app: typer.Typer) -> None:
    @app.command("qc")
    def qc_command(
        source: str = typer.Option(..., "--source", metavar="PHOTO", help="Source photo the clip was made from"),
        video: str = typer.Option(..., "--video", metavar="CLIP", help="Clip to score (master .nut/.mkv or an encode)"),
        preset: str = typer.Option("product-page", "--preset", metavar="NAME", help="Preset whose QC thresholds apply"),
        presets_file: str = typer.Option(
            None, "--presets-file", metavar="FILE", help="Presets YAML (default: packaged)"
        ),
        as_json: bool = typer.Option(
            False, "--json", help="Print one JSON object: passed, scores, limits, reasons, findings, failed_checks"
        ),
    ) -> None:
        """Score a clip against its source photo. Exit 0 when it passes, 1 when it fails, 2 on bad input."""
        from catalog_motion.paths import absolute_location
        from catalog_motion.presets import load_presets, select_presets
        from quality.gate import check_clip

        source, video = absolute_location(source), absolute_location(video)
        presets_file = absolute_location(presets_file) if presets_file else None
        chosen = select_presets(load_presets(presets_file), [preset])[0]
        # Unreadable input raises QCInputError (a CatalogMotionError): flows/cli.py prints its one line
        # and exits 2. A clip that decodes but is cut short is scored and fails `duration` (exit 1).
        report = check_clip(source, video, chosen)
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "passed": report.passed,
                        "preset": chosen.name,
                        "scores": report.scores,
                        "limits": report.limits,
                        "reasons": report.reasons,
                        "findings": findings_of(report.reasons),
                        "failed_checks": report.failed_checks,
                    },
                    sort_keys=True,
                )
            )
        else:
            verdict = "PASS" if report.passed else "FAIL"
            typer.echo(f"{verdict} {video} (preset {chosen.name}, {report.seconds:.2f} s)")
            for name in TEXT_SCORES:
                if name in report.scores:
                    limit = report.limits.get(name)
                    shown = f"  (limit {limit:.4g})" if limit is not None else ""
                    typer.echo(f"  {name:18s} {report.scores[name]:.4f}{shown}")
            for reason in report.reasons:
                typer.echo(f"  reason: {reason}")
        # SystemExit, not typer.Exit: the shell runs click with standalone_mode=False, which turns
        # typer.Exit into a return value and would lose the code.
        raise SystemExit(0 if report.passed else 1)
