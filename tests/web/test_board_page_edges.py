"""Edge cases of the board pages (SPEC §8, §14), both run modes."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.api.test_board_scores import jump
from tests.helpers import Player
from tests.web.test_admin_page import sign_in
from tests.web.test_board_pages import cup  # noqa: F401 (the fixture)


def test_a_hidden_player_sees_their_own_score_on_a_board_page(
    app: Flask,
    client: FlaskClient,
    cup: Player,  # noqa: F811
) -> None:
    """A hidden player sees their own score on a board's page, as on `/`: their 6 points on the
    cup, though they have no rank there."""
    ann = Player(client)
    jump(ann, 2)
    ann.score()  # main: 10
    assert client.patch("/api/v1/me", json={"is_hidden": True}, headers=ann.auth).status_code == 200
    browser = app.test_client()
    sign_in(browser, ann)
    main = browser.get("/").get_data(as_text=True)
    assert '<span class="my-score" aria-label="Your score">10</span>' in main
    page = browser.get("/boards/cup?period=weekly").get_data(as_text=True)
    assert '<span class="my-score" aria-label="Your score">6</span>' in page
