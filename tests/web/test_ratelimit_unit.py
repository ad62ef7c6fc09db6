from callbridge.settings import parse_rate_limit
from callbridge.web.ratelimit import FixedWindowLimiter

import pytest


def test_window_resets_and_counts_per_client():
    now = [1000.0]
    lim = FixedWindowLimiter(2, 60, clock=lambda: now[0])
    assert [lim.hit("a").allowed for _ in range(3)] == [True, True, False]
    assert lim.hit("b").allowed
    now[0] = 1020.0  # window [960, 1020) ended
    v = lim.hit("a")
    assert v.allowed and v.remaining == 1 and v.reset_after == 60


def test_table_is_pruned_of_ended_windows():
    now = [0.0]
    lim = FixedWindowLimiter(5, 10, clock=lambda: now[0], prune_at=100)
    for i in range(100):
        lim.hit(f"c{i}")
    now[0] = 10.0
    lim.hit("new")
    assert len(lim._counts) == 1


@pytest.mark.parametrize("text,expected", [("1000/15m", (1000, 900)), ("5/s", (5, 1)), ("10/2h", (10, 7200))])
def test_parse_rate_limit(text, expected):
    assert parse_rate_limit(text) == expected


@pytest.mark.parametrize("bad", ["1000", "0/1m", "x/1m", "10/0m", "10/1d"])
def test_parse_rate_limit_rejects(bad):
    with pytest.raises(ValueError):
        parse_rate_limit(bad)
