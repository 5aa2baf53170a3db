"""Edge cases of board streams (SPEC §14): ended periods after a ban, a timezone edit, an adjust
on a board, many past keys read, and stopping during a rebuild. Both run modes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from app.audit import Origin
from app.boards import periods as p
from tests.unit.boards.test_streams import EVE, Viewer, make_cup, score, until
from tests.unit.conftest import Domain


def test_a_past_period_reads_the_same_on_every_endpoint_after_a_ban(domain: Domain) -> None:
    """An ended day reads the same on every endpoint after a ban: its cached page and its rank
    read both drop the banned player, and the page's ETag changes with its content."""
    make_cup(domain, ("daily",))
    domain.clock.now = EVE
    ann, bob = domain.player("ann"), domain.player("bob")
    score(domain, ann)
    score(domain, ann)
    score(domain, bob)
    domain.clock.advance(30)  # the day ended 29.5 s ago: settled, its pages are cached
    streams = domain.services.streams
    info, day = streams.stream("cup", "daily", "2027-01-15")
    before, etag = streams.past_page(info, day, 10, 0)
    assert [e["user_id"] for e in before["leaderboard"]] == [ann.user_id, bob.user_id]

    domain.services.moderation.ban(None, ann.user_id, "cheat", None)

    page, etag_after = streams.past_page(info, day, 10, 0)
    on_page = [e["user_id"] for e in page["leaderboard"]]
    ranked = [uid for uid in (ann.user_id, bob.user_id) if streams.rank(day, False, uid)[0] is not None]
    _, total = streams.rank(day, False, bob.user_id)
    assert on_page == ranked, (on_page, ranked)
    assert page["total_players"] == total
    assert etag_after != etag  # the content changed, so the ETag did


def test_a_live_period_follows_the_boards_timezone_after_an_edit(domain: Domain) -> None:
    """After a board's timezone changes (Auckland -> UTC), its live period moves to the new zone's
    key, the one the API names as current, and shows the scores counted there."""
    domain.services.boards.create(
        None, Origin(), "cup", "Cup", {"jump": {"points": 3}}, ("daily",), "Pacific/Auckland"
    )
    domain.clock.now = datetime(2027, 1, 15, 20, 0, tzinfo=UTC).timestamp()  # Auckland: the 16th
    streams = domain.services.streams
    live = streams.live("cup", p.Period.DAILY)
    assert live.key == "2027-01-16"
    viewer = Viewer()
    live.hub.attach(viewer)
    domain.services.boards.update(None, Origin(), "cup", {"timezone": "UTC"})
    bob = domain.player("bob")
    score(domain, bob)  # counts in UTC's 2027-01-15
    _, current = streams.stream("cup", "daily")
    assert current.key == "2027-01-15"
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        shown = [e["user_id"] for e in live.board.page(10, 0).data["leaderboard"]]
        if shown == [bob.user_id]:
            break
        time.sleep(0.05)
    assert (live.key, shown) == (current.key, [bob.user_id])


def test_an_adjust_on_a_board_reports_the_previous_rank_on_that_board(domain: Domain) -> None:
    """An adjust on a board reports the player's previous rank on that board, not on main."""
    make_cup(domain, ("daily",))
    ann, bob = domain.player("ann"), domain.player("bob")
    scorer = domain.services.scorer
    for who, times in ((bob, 2), (ann, 1)):  # main: bob 20, ann 10 (rank 2)
        token = scorer.issue_token(who, "complete_task", Origin()).action_token
        for _ in range(times):
            token = scorer.submit(who, token, Origin()).next_token.action_token  # type: ignore[union-attr]
    score(domain, ann)  # the cup: ann alone, rank 1
    placement = domain.services.moderation.adjust(None, ann.user_id, 5, "bonus", board="cup")
    assert (placement.previous_rank, placement.rank) == (1, 1), placement


def test_reading_past_periods_does_not_keep_a_write_path_per_key(domain: Domain) -> None:
    """Reads of past periods, whose keys any client may name, leave no write path behind per key:
    memory does not grow with the number of past keys read."""
    make_cup(domain, ("daily",))
    streams = domain.services.streams
    before = len(streams._writers)
    for day in range(300):
        key = p.key_at(p.Period.DAILY, datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=day), p.zone("UTC"))
        _, stream = streams.stream("cup", "daily", key)
        streams.top(stream, False, 10, 0)
        streams.rank(stream, False, 1)
    grown = len(streams._writers) - before
    assert grown < 50, f"{grown} write paths kept for 300 past keys read"


def test_stopping_while_a_rebuild_thread_is_starting_does_not_raise(domain: Domain, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Streams stop cleanly while a rebuild thread has its ident but is not yet started; the gap
    between the two is widened here so that every run stops inside it."""
    import threading

    from app.scoring import writer as writer_module

    class SlowStart(threading.Thread):
        def _set_tstate_lock(self) -> None:
            super()._set_tstate_lock()
            time.sleep(0.5)  # between the ident and "started"

    monkeypatch.setattr(writer_module.threading, "Thread", SlowStart)
    make_cup(domain)
    streams = domain.services.streams
    _, stream = streams.stream("cup", "all")
    writer = streams.writer(stream)
    starter = threading.Thread(target=writer.rebuild_soon)
    starter.start()
    until(lambda: writer._rebuilder is not None and writer._rebuilder.ident is not None)
    try:
        streams.stop()
    finally:
        starter.join()
