"""The exception tree. Every error a user can cause is a RaysimError.

RaysimError
 ├── ConfigError      bad YAML, bad key or value, bad --set      (exit code 2)
 │    └── InputError  a users or catalog file that cannot be used (exit code 2)
 ├── SinkError        Kafka refused or lost events; `retriable` says if a retry may help
 │    └── BrokerUnreachable
 └── WorkerLost       a simulator actor died during a run
"""

from __future__ import annotations

__all__ = [
    "BrokerUnreachable",
    "ConfigError",
    "InputError",
    "RaysimError",
    "SinkError",
    "WorkerLost",
]


class RaysimError(Exception):
    """Base of every error raysim raises on purpose."""


class ConfigError(RaysimError):
    """A configuration problem, found before anything starts.

    Holds one message per problem so that `raysim validate` can show them all.
    """

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class InputError(ConfigError):
    """A users or catalog file that cannot be used as it is."""


class SinkError(RaysimError):
    retriable = False


class BrokerUnreachable(SinkError):
    retriable = True


class WorkerLost(RaysimError):
    """A simulator actor died while the run was going on."""
