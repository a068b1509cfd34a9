from callback_plugins import xenlab_timing


def test_slowest_orders_by_time_then_name_and_cuts():
    d = {"b (x.yml:3)": 2.0, "a (x.yml:1)": 2.0, "c (y.yml:9)": 9.5, "d (z.yml:2)": 0.1}
    assert xenlab_timing.slowest(d, 3) == [
        (9.5, "c (y.yml:9)"), (2.0, "a (x.yml:1)"), (2.0, "b (x.yml:3)")]
    assert xenlab_timing.slowest({}, 5) == []
