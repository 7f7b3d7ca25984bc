import pickle
import time

from raysim.clock import Clock
from raysim.config import Range
from raysim.runtime.coordinator import Coordinator


def users(n):
    return [{"user_id": f"u{i}"} for i in range(n)]


def clock_at(now):
    """A realtime clock whose event time starts at `now`."""
    return Clock(time.time(), now, 1.0)


def test_coordinator_never_leases_a_user_twice_at_once():
    coord = Coordinator(users(10), clock_at(1000.0), None, seed=1)
    a = coord.exchange(0, [], 6)
    b = coord.exchange(1, [], 6)
    leased = [lease.index for lease in a.leases + b.leases]
    assert len(leased) == 10
    assert len(set(leased)) == 10
    assert coord.exchange(1, [], 5).leases == []


def test_coordinator_respects_gap_before_next_session():
    coord = Coordinator(users(1), clock_at(1000.0), None, seed=1)
    (lease,) = coord.exchange(0, [], 1).leases
    assert lease.session_number == 1
    batch = coord.exchange(0, [(lease.index, 1_000_000.0)], 1)
    assert batch.leases == []
    assert 0 < batch.wait_s <= 1.0
    batch = coord.exchange(0, [], 1)
    assert batch.leases == [] and not batch.done


def test_coordinator_counts_sessions_and_retires_users():
    coord = Coordinator(users(3), clock_at(1000.0), Range(2, 2), seed=1)
    numbers = []
    returned = []
    for _ in range(3):
        batch = coord.exchange(0, returned, 10)
        numbers += [lease.session_number for lease in batch.leases]
        returned = [(lease.index, 0.0) for lease in batch.leases]
    assert sorted(numbers) == [1, 1, 1, 2, 2, 2]
    assert coord.exchange(0, returned, 10).done
    assert coord.stats()["retired"] == 3


def test_coordinator_takes_back_leases_of_a_lost_simulator():
    coord = Coordinator(users(4), clock_at(1000.0), None, seed=1)
    lost = coord.exchange(7, [], 4).leases
    assert coord.exchange(8, [], 4).leases == []
    assert coord.release_simulator(7) == 4
    again = coord.exchange(8, [(lease.index, 0.0) for lease in lost], 4)
    assert sorted(lease.index for lease in again.leases) == [0, 1, 2, 3]
    # late returns from the lost simulator change nothing
    coord.exchange(7, [(lease.index, 0.0) for lease in lost], 0)
    assert coord.stats()["leased"] == 4


def test_coordinator_stop_leases_nothing_more():
    coord = Coordinator(users(4), clock_at(1000.0), None, seed=1)
    coord.stop()
    assert coord.exchange(0, [], 4).done


def test_only_a_first_session_lease_carries_the_whole_user_record():
    records = [{"user_id": "u1", "email": "a@example.com", "address": {"city": "Oslo"}}]
    coord = Coordinator(records, clock_at(1000.0), None, seed=1)
    (first,) = coord.exchange(0, [], 1).leases
    (second,) = coord.exchange(0, [(first.index, 0.0)], 1).leases
    assert (first.session_number, first.user) == (1, records[0])
    assert (second.session_number, second.user) == (2, {"user_id": "u1"})
    assert pickle.loads(pickle.dumps(second)) == second
