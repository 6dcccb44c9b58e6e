"""Orchestration in plain Python: the batch driver, per-batch stage steps, run journal, tally and outputs.

No Prefect here (import-linter keeps it so): `tasks/` wraps these steps as Prefect tasks and builds the
runner, `flows/` composes them. Tests drive this package directly with a thread pool.
"""
