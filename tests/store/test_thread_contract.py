"""The thread facet's contract, run against both stores: which message stands for which ticket,
each channel's default for replies, the comments known per ticket, and removal with a
workspace."""

from __future__ import annotations

import asyncio

from bot.store import Stores
from bot.store.interface import ThreadStore
from bot.threads import ThreadSpot
from bot.uninstall import Installed


def threads_of(stores: Stores) -> ThreadStore:
    assert stores.threads is not None, "this store has no thread facet"
    return stores.threads


async def test_a_thread_finds_its_ticket_and_a_ticket_its_threads(open_any) -> None:
    stores: Stores = await open_any()
    threads = threads_of(stores)
    first, second = ThreadSpot("T1", "C1", "100.1"), ThreadSpot("T1", "C2", "200.2")
    await threads.link_thread(first, "epixel:7", "a1")
    await threads.link_thread(second, "epixel:7", "a1")
    elsewhere = ThreadSpot("T1", "C3", "250.5")  # ticket 7 of another account
    await threads.link_thread(elsewhere, "epixel:7", "a2")
    await threads.link_thread(ThreadSpot("T1", "C1", "300.3"), "omnidesk:1", "")
    assert await threads.thread_ref(first) == "epixel:7"
    assert await threads.thread_account(first) == "a1"
    assert await threads.thread_account(elsewhere) == "a2"
    assert await threads.thread_ref(ThreadSpot("T2", "C1", "100.1")) is None  # other workspace
    assert await threads.threads_of("epixel:7", "a1") == [first, second]
    assert await threads.threads_of("epixel:7", "a2") == [elsewhere]

    await stores.aclose()
    reopened = threads_of(await open_any())
    assert await reopened.thread_ref(second) == "epixel:7"
    assert await reopened.threads_of("epixel:7", "a1") == [first, second]
    assert await reopened.thread_account(elsewhere) == "a2"
    assert await reopened.threads_of("ispcrm:1", "") == []


async def test_linking_a_message_again_moves_it_to_the_new_ticket(stores: Stores) -> None:
    threads = threads_of(stores)
    spot = ThreadSpot("T1", "C1", "100.1")
    await threads.link_thread(spot, "epixel:7", "")
    await threads.link_thread(spot, "epixel:8", "")
    assert await threads.thread_ref(spot) == "epixel:8"
    assert await threads.threads_of("epixel:7", "") == []
    assert await threads.threads_of("epixel:8", "") == [spot]


async def test_a_channel_default_is_kept_per_channel(open_any) -> None:
    stores: Stores = await open_any()
    threads = threads_of(stores)
    assert await threads.slack_only("T1", "C1") is False
    await threads.set_slack_only("T1", "C1", True)
    assert await threads.slack_only("T1", "C1") is True
    assert await threads.slack_only("T1", "C2") is False
    await stores.aclose()
    reopened = threads_of(await open_any())
    assert await reopened.slack_only("T1", "C1") is True
    await reopened.set_slack_only("T1", "C1", False)
    assert await reopened.slack_only("T1", "C1") is False


async def test_a_comment_is_noted_once_even_when_two_note_it_at_once(stores: Stores) -> None:
    threads = threads_of(stores)
    assert await threads.knows_comment("epixel:7", "id:1") is False
    results = await asyncio.gather(*(threads.note_comment("epixel:7", "id:1") for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert await threads.knows_comment("epixel:7", "id:1") is True
    assert await threads.knows_comment("epixel:8", "id:1") is False
    await threads.forget_comment("epixel:7", "id:1")  # its post failed
    assert await threads.knows_comment("epixel:7", "id:1") is False
    assert await threads.note_comment("epixel:7", "id:1") is True  # the next try may post it


async def test_an_uninstalled_workspace_takes_its_threads_and_settings(stores: Stores) -> None:
    threads = threads_of(stores)
    gone, kept = ThreadSpot("T1", "C1", "1.1"), ThreadSpot("T2", "C9", "2.2")
    await threads.link_thread(gone, "epixel:7", "")
    await threads.link_thread(kept, "epixel:7", "")
    await threads.set_slack_only("T1", "C1", True)
    assert await threads.delete_owned(Installed("T1").owns) == 1
    assert await threads.thread_ref(gone) is None
    assert await threads.threads_of("epixel:7", "") == [kept]
    assert await threads.slack_only("T1", "C1") is False
