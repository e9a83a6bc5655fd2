"""The records writer: every record on disk, in order, before anything counts it; secrets scrubbed."""

from __future__ import annotations

import json
from pathlib import Path

import trio
import trio.testing

from runner.prompts._routing import QueueKey
from runner.run_folder._records import Finished
from runner.run_folder._writer import MAX_RECORDS_PER_WRITE, write_records

KEY = QueueKey("openai", None)
SECRET = "sk-test-0123456789abcdef"


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_records_waiting_together_are_written_in_order_each_on_disk_before_it_is_counted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "completed.jsonl"
    count = 3 * MAX_RECORDS_PER_WRITE + 7  # several writes' worth, all ready at once
    on_disk_when_counted: list[int] = []

    def count_it(finished: Finished) -> None:
        on_disk_when_counted.append(len(path.read_bytes().splitlines()))
        assert lines_of(path)[finished.record["n"]]["n"] == finished.record["n"]

    send, receive = trio.open_memory_channel[Finished](count)
    for n in range(count):
        send.send_nowait(Finished(KEY, {"id": f"p{n}", "n": n, "response": f"uses {SECRET}"}))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: write_records(path, receive, on_record=[count_it], secrets=lambda: [SECRET])
        )
        await trio.testing.wait_all_tasks_blocked()
        send.send_nowait(Finished(KEY, {"id": "late", "n": count, "response": "after a wait"}))
        await send.aclose()

    records = lines_of(path)
    assert [record["n"] for record in records] == list(range(count + 1))
    assert all(SECRET not in json.dumps(record) for record in records)
    assert records[0]["response"] == "uses ***"
    assert len(on_disk_when_counted) == count + 1
    assert all(on_disk > n for n, on_disk in enumerate(on_disk_when_counted))
