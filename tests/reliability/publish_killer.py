"""Plugin for tests/reliability/test_orphans.py (listed in orchestration.plugins, so every worker process
imports it through pipeline.steps.load_plugins): the publish step's worker process dies (`os._exit(1)`) right
after storing, and reporting to the sink, one chosen SKU's objects - the worker killed between storing and
returning its batch.

REL_KILL_PUBLISH_SKU names the SKU; REL_KILL_PUBLISH_MARKER a file created (exclusively) by the one process
that dies, so the fault is injected once per run however many workers import this module.
"""

from __future__ import annotations

import os

import pipeline.steps as steps

KILL_SKU = "REL_KILL_PUBLISH_SKU"
KILL_MARKER = "REL_KILL_PUBLISH_MARKER"


def _claim(marker: str) -> bool:
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def _wrap(publish):
    def publish_then_die(**kwargs):
        stored = publish(**kwargs)
        marker = os.environ.get(KILL_MARKER)
        if kwargs.get("sku") == os.environ.get(KILL_SKU) and marker and _claim(marker):
            os._exit(1)  # no cleanup, no result: as a worker killed by the OOM killer or a lost node
        return stored

    publish_then_die.kills_after_publish = True
    return publish_then_die


# steps.py imports publish_variant by name, so the name in pipeline.steps is the one to replace (once).
if not getattr(steps.publish_variant, "kills_after_publish", False):
    steps.publish_variant = _wrap(steps.publish_variant)
