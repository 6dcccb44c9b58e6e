"""The `review` flow: a person decides the clips of the review queue in the Prefect UI.

collect the open queue (of one run, or all) → post one artifact per clip (photo, filmstrip, scores) →
suspend with a typed form (approve / reject / regenerate-with-less and a note per clip) → apply the
decisions through the normal publish path (pipeline/review.py) → a result artifact.

`suspend_flow_run` frees the worker (and any GPU) while a person decides; the run is started again from
the top when resumed, so it needs a deployment (prefect.yaml `review`) and persisted results (the
artifacts task's cached result keeps them from being posted twice). docs/REVIEW.md.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.flow_runs import suspend_flow_run

from catalog_motion.paths import absolute_location
from pipeline.review import open_entries
from tasks.review import apply_review_task, post_review_artifacts, post_review_result, review_form

FORM_DESCRIPTION = (
    "Decide each clip: **approve** publishes it in a new manifest version, **reject** keeps it unpublished "
    "(the note is the reason), **regenerate** makes it again with less motion. Leave a clip *undecided* to "
    "keep it in the queue. The artifacts of this run show each clip's photo, filmstrip and scores."
)


@flow(name="review", persist_result=True, log_prints=False)
def review(
    out: str = "out",
    settings_file: str | None = None,
    presets_file: str | None = None,
    run_id: str | None = None,
    reviewer: str = "",
    timeout_s: int | None = None,
) -> dict[str, Any]:
    """Ask a person to decide the clips waiting for review (of `run_id`, or all open ones).

    timeout_s: how long the form waits (None: until someone answers; past it the run fails and the clips
    stay in the queue)."""
    logger = get_run_logger()
    out = absolute_location(out)
    entries = open_entries(out, run_id)
    if not entries:
        logger.info("nothing waits for review in %s", out)
        return {"open": 0, "run_id": None}
    post_review_artifacts(entries)
    form = review_form(entries)
    answer = suspend_flow_run(
        wait_for_input=form.with_initial_data(description=FORM_DESCRIPTION, reviewer=reviewer),
        key="review-decisions",
        timeout=timeout_s,
    )
    decisions = answer.decisions()
    if not decisions:
        logger.info("no clip was decided; all %d stay in the queue", len(entries))
        return {"open": len(entries), "run_id": None}
    result = apply_review_task(out, decisions, answer.reviewer or "prefect-ui", settings_file, presets_file)
    post_review_result(result)
    for item, why in result.refused.items():
        logger.warning("decision on %s refused: %s", item, why)
    return {"open": len(entries) - len(result.outcomes), **result.model_dump()}


if __name__ == "__main__":
    review()
