"""put_bounded: the tables that follow calls, clicks and tickets stay within their bound."""

from callbridge.bounded import put_bounded


def test_a_full_table_forgets_its_oldest_key_one_at_a_time():
    table: dict[str, int] = {}
    for n in range(5):
        put_bounded(table, f"k{n}", n, limit=3)
    assert table == {"k2": 2, "k3": 3, "k4": 4}
    assert list(table) == ["k2", "k3", "k4"]  # oldest first


def test_a_key_already_held_keeps_its_place_and_drops_nothing():
    table = {"a": 1, "b": 2, "c": 3}
    put_bounded(table, "a", 10, limit=3)
    assert list(table.items()) == [("a", 10), ("b", 2), ("c", 3)]
    put_bounded(table, "d", 4, limit=3)
    assert list(table) == ["b", "c", "d"]
