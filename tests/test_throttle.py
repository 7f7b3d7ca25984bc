from raysim.config import ThrottleConfig
from raysim.runtime.throttle import CpuThrottle


def readings(*values):
    it = iter(values)
    return lambda: next(it)


def test_throttle_ignores_first_reading():
    throttle = CpuThrottle(ThrottleConfig(), 100, readings(100.0, 50.0))
    assert throttle.sample() == 100  # psutil's first reading means nothing
    assert throttle.sample() == 100


def test_throttle_halves_above_threshold_and_stops_at_min():
    throttle = CpuThrottle(
        ThrottleConfig(min_concurrency=20), 100, readings(0, 95, 95, 95)
    )
    throttle.sample()
    assert [throttle.sample() for _ in range(3)] == [50, 25, 20]
    assert throttle.throttled_count == 3


def test_throttle_restores_when_load_falls():
    cfg = ThrottleConfig(cpu_percent=90, factor=0.5, min_concurrency=10)
    throttle = CpuThrottle(cfg, 100, readings(0, 99, 99, 85, 40, 40, 40))
    throttle.sample()
    assert throttle.sample() == 50
    assert throttle.sample() == 25
    assert throttle.sample() == 25  # under the threshold but within the hysteresis band
    assert [throttle.sample() for _ in range(3)] == [50, 100, 100]


def test_throttle_never_exceeds_a_new_lower_target():
    throttle = CpuThrottle(ThrottleConfig(), 100, readings(0, 10))
    throttle.sample()
    throttle.set_target(30)
    assert throttle.limit == 30
    assert throttle.sample() == 30


def test_throttle_min_above_target_uses_target():
    throttle = CpuThrottle(ThrottleConfig(min_concurrency=50), 8, readings(0, 99))
    throttle.sample()
    assert throttle.sample() == 8
