"""Waiting times of the station's two retry loops (pure: the random part is passed in).

* Reconnecting to the central system (2.0.1 B10, OCPP-J RetryBackOff*): the first attempt after
  `RetryBackOffWaitMinimum` plus a random 0..`RetryBackOffRandomRange`; the base doubles after
  every failed attempt, at most `RetryBackOffRepeatTimes` times, and every attempt draws a new
  random part. Without the random part a fleet would reconnect in lock-step after an outage.
* Resending a transaction message the central system did not process (1.6
  TransactionMessageAttempts / TransactionMessageRetryInterval, 2.0.1
  MessageAttempts/MessageAttemptInterval[TransactionEvent]): wait attempt# x interval, give up
  after the configured number of attempts.
"""

from __future__ import annotations


def reconnect_delay_s(
    failures: int,
    *,
    wait_minimum_s: float,
    random_range_s: float,
    repeat_times: int,
    random_fraction: float,
) -> float:
    """Seconds before the next connection attempt after `failures` failed ones (>= 1).

    `random_fraction` is a uniform draw from [0, 1); the caller owns the random generator.
    """
    if failures < 1:
        raise ValueError("failures counts from 1")
    if not 0.0 <= random_fraction < 1.0:
        raise ValueError("random_fraction must be in [0, 1)")
    doublings = min(failures - 1, max(0, repeat_times))
    base = max(0.0, wait_minimum_s) * (1 << doublings)
    return base + max(0.0, random_range_s) * random_fraction


def message_retry_delay_s(attempt: int, interval_s: float) -> float:
    """Wait after failed attempt number `attempt` (1 = the first send failed)."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    return attempt * max(0.0, interval_s)


def gives_up(attempts_made: int, max_attempts: int) -> bool:
    """True when a message that failed `attempts_made` times must be discarded.

    `max_attempts` below 1 is read as 1: a message is always tried once.
    """
    return attempts_made >= max(1, max_attempts)
