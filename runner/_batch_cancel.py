"""``prompto-run cancel=RUN_DIR``: cancel, at the provider, every batch of a run not yet collected.

Cancelling stops paying for what has not run. What the batches had answered before they stopped is
still collected by ``prompto-run resume=RUN_DIR``; their requests that never ran are recorded as
``batch_cancelled`` (a later resume sends them again, as it does every failed prompt).
"""

from __future__ import annotations

import logging
from pathlib import Path

import trio

from providers import ProviderError
from providers.batch import BatchApi, BatchTag, batch_api_for
from runner._run import effective_environ
from runner.config._compose import to_run_config
from runner.config._config import RunConfig
from runner.config._errors import UserError
from runner.config._log import LOGGER_NAME
from runner.engine._provider_set import ProviderSet
from runner.run_folder._batches import BatchLedger, ChunkEntry
from runner.run_folder._files import RunFolder
from runner.run_folder._lock import FolderBusy, folder_lock
from runner.run_folder._saved_config import saved_config

logger = logging.getLogger(LOGGER_NAME)


class NothingToCancel(UserError):
    """The folder holds no batch still at the provider."""


def cancel_batches_of(run_dir: Path) -> int:
    """Cancel the run's uncollected batches; print what was cancelled. Returns the exit status."""
    folder = RunFolder(run_dir)
    if not folder.batch_ledger.exists():
        raise NothingToCancel(f"{run_dir} has no batches ({folder.batch_ledger.name} is missing)")
    config = to_run_config(saved_config(run_dir))
    try:
        with folder_lock(folder.path):
            ledger = BatchLedger(folder)
            try:
                pending = ledger.uncollected()
                if not pending:
                    raise NothingToCancel(f"every batch of {run_dir} has been collected: nothing to cancel")
                failures = trio.run(_cancel_all, config, ledger)
            finally:
                ledger.close()
    except FolderBusy as busy:  # the run is waiting for its batches: it alone may write the ledger
        raise FolderBusy(
            f"{str(busy).partition(';')[0]}; stop it first (Ctrl-C leaves its batches at the provider), "
            f"then: prompto-run cancel={run_dir}"
        ) from None
    print(f"To collect what they answered before stopping: prompto-run resume={run_dir}")
    return 1 if failures else 0


async def _cancel_all(config: RunConfig, ledger: BatchLedger) -> int:
    failures = 0
    async with ProviderSet(config, effective_environ(config)) as providers:
        for entry in ledger.uncollected():
            provider, _ = providers.get(entry.api, entry.model_name)
            batch_api = batch_api_for(provider)
            if batch_api is None:
                continue
            batch_api.claimed.update(e.batch_id for e in ledger.chunks.values() if e.batch_id)
            tag = BatchTag(entry.run_id, entry.chunk)
            try:
                failures += await _cancel_one(batch_api, entry, tag, ledger)
            finally:
                await batch_api.aclose()
    return failures


async def _cancel_one(batch_api: BatchApi, entry: ChunkEntry, tag: BatchTag, ledger: BatchLedger) -> int:
    """Cancel one chunk's batch, saying what was done; 1 if the provider refused."""
    where = f"chunk {entry.chunk} ({entry.api}/{entry.model_name})"
    batch_id = entry.batch_id
    if batch_id is None and not batch_api.tags_reliable:
        print(
            f"{where} was never recorded as submitted, and this API's batches carry no tag to tell "
            "which is the run's: not cancelled (resume= collects it if the provider holds it)"
        )
        return 0
    try:
        batch_id = batch_id or await batch_api.find(tag, entry.requests, entry.intent_time)
        if batch_id is None:
            print(f"{where} never reached the provider")
            return 0
        await batch_api.cancel(batch_id)
    except ProviderError as exc:
        print(f"the batch of {where} could not be cancelled: {exc.message}")
        return 1
    if entry.batch_id is None:
        ledger.submitted(entry.chunk, batch_id)
    ledger.cancel_requested(entry.chunk)
    print(f"cancelled batch {batch_id} ({entry.api}/{entry.model_name}, {entry.requests} requests)")
    return 0
