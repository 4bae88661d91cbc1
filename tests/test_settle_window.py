"""SettleWindow.take: a mark waits for enough free slots (sender.send.outgoing)."""

from __future__ import annotations

import asyncio

import pytest

from sender.send.outgoing import SettleWindow


@pytest.mark.parametrize(("size", "held", "wanted", "at_least", "taken_at_once"), [
    (200, 180, 500, 1, 20),      # anything free: taken at once
    (200, 150, 500, 50, 50),     # as many free as asked for at least
    (200, 0, 500, 50, 200),      # all free: the whole window
    (200, 190, 5, 50, 5),        # wanting fewer than at_least: waits only for those
    (2, 0, 500, 50, 2),          # at_least beyond the window: the whole window
])
async def test_take_returns_at_once_with_enough_free(
        size: int, held: int, wanted: int, at_least: int, taken_at_once: int) -> None:
    window = SettleWindow(size)
    window.held = held
    assert await asyncio.wait_for(window.take(wanted, at_least), 1) == taken_at_once


async def test_take_waits_for_at_least_free_slots() -> None:
    window = SettleWindow(200)
    window.held = 180
    taking = asyncio.create_task(window.take(500, 50))
    for gives in range(1, 4):
        window.give(10)  # 50 free at the third
        for _ in range(3):
            await asyncio.sleep(0)
        assert taking.done() == (gives == 3)
    assert await taking == 50
    assert window.held == 200


async def test_a_settling_slot_counts_as_free() -> None:
    window = SettleWindow(200)
    window.held = 200
    taking = asyncio.create_task(window.take(500, 2))
    window.settling()
    await asyncio.sleep(0)
    assert not taking.done()
    window.settling()
    assert await asyncio.wait_for(taking, 1) == 2
