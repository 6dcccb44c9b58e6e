"""Local operations: work pool, concurrency limits, deployments, automations, worker, events.

`catalog-motion serve` (make serve) = local server + `setup` + a worker; tests call the same functions.
Every step is idempotent, so `setup` can be re-run after editing prefect.yaml or automations.yaml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from catalog_motion.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
POOL = "catalog-motion-local"
GPU_LIMIT = "gpu"
ALERT_BLOCK = "catalog-motion-alerts"


def _prefect() -> str:
    return shutil.which("prefect", path=str(Path(sys.executable).parent)) or "prefect"


def prefect_cli(
    args: list[str], env: dict[str, str], *, cwd: Path = ROOT, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess:
    """Run the `prefect` CLI non-interactively; a failure raises ConfigError with its last line."""
    full_env = {**os.environ, **env, "PREFECT_CLI_PROMPT": "false"}
    result = subprocess.run(
        [_prefect(), "--no-prompt", *args], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise ConfigError(f"prefect {' '.join(args[:3])} failed: {tail[0]}")
    return result


def deployment_env(catalog: str, out: str, settings_file: str | None = None) -> dict[str, str]:
    """Variables prefect.yaml reads at deploy time (and the worker at run time)."""
    return {
        "CATALOG_MOTION_ROOT": str(ROOT),
        "CATALOG_MOTION_CATALOG": str(Path(catalog).resolve()) if "://" not in catalog else catalog,
        "CATALOG_MOTION_OUT": str(Path(out).resolve()) if "://" not in out else out,
        "CATALOG_MOTION_SETTINGS": str(Path(settings_file).resolve()) if settings_file else "",
    }


def create_work_pool(env: dict[str, str], name: str = POOL) -> None:
    prefect_cli(["work-pool", "create", name, "--type", "process", "--overwrite"], env)


def create_concurrency_limits(env: dict[str, str], gpus: int = 1) -> None:
    """A global concurrency limit `gpu` with one slot per GPU (generation occupies a slot)."""
    result = prefect_cli(["gcl", "create", GPU_LIMIT, "--limit", str(gpus)], env, check=False)
    if result.returncode != 0:
        prefect_cli(["gcl", "update", GPU_LIMIT, "--limit", str(gpus)], env)


def deploy_all(env: dict[str, str]) -> None:
    prefect_cli(["deploy", "--all", "--prefect-file", str(ROOT / "prefect.yaml")], env, timeout=600)


def apply_automations(
    env: dict[str, str], path: Path = ROOT / "automations.yaml", webhook_url: str | None = None
) -> list[str]:
    """Create (or replace, by name) the automations declared in automations.yaml."""
    import asyncio

    specs = yaml.safe_load(path.read_text(encoding="utf-8"))["automations"]
    webhook_url = webhook_url or os.environ.get("CATALOG_MOTION_ALERT_WEBHOOK")

    async def apply() -> list[str]:
        from prefect.client.orchestration import get_client
        from prefect.events.schemas.automations import AutomationCore

        block_id = await _alert_block(webhook_url) if webhook_url else None
        names = []
        async with get_client() as client:
            for spec in specs:
                spec = dict(spec)
                actions = []
                for action in spec["actions"]:
                    if action["type"] == "send-notification":
                        action = {**action, "block_document_id": str(block_id)} if block_id else {"type": "do-nothing"}
                    actions.append(action)
                spec["actions"] = actions
                for existing in await client.read_automations_by_name(spec["name"]):
                    await client.delete_automation(existing.id)
                await client.create_automation(AutomationCore.model_validate(spec))
                names.append(spec["name"])
        return names

    with _env(env):
        return asyncio.run(apply())


async def _alert_block(url: str) -> Any:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name=ALERT_BLOCK,
        url=url,
        method="POST",
        json_data={"subject": "{{subject}}", "body": "{{body}}", "source": "catalog-motion"},
    )
    return await block.save(ALERT_BLOCK, overwrite=True)


class _env:
    """Temporarily point this process's Prefect client at `env`."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        from prefect.context import refresh_global_settings_context

        self.saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        refresh_global_settings_context()

    def __exit__(self, *exc: object) -> None:
        from prefect.context import refresh_global_settings_context

        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        refresh_global_settings_context()


def setup(env: dict[str, str], *, gpus: int = 1, webhook_url: str | None = None) -> None:
    """Pool, limits, deployments and automations on the server `env` points at."""
    create_work_pool(env)
    create_concurrency_limits(env, gpus)
    deploy_all(env)
    apply_automations(env, webhook_url=webhook_url)


def start_worker(env: dict[str, str], *, log_path: Path | None = None, pool: str = POOL) -> subprocess.Popen:
    """`prefect worker start --pool POOL` as a child process (its own process group)."""
    full_env = {**os.environ, **env}
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            [_prefect(), "worker", "start", "--pool", pool, "--type", "process"],
            env=full_env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        if log_path:
            out.close()


def stop_process_group(process: subprocess.Popen, timeout_s: float = 20.0) -> None:
    """SIGTERM a child started in its own session (worker), SIGKILL if it does not stop."""
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    except ProcessLookupError:
        pass
