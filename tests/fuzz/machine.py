"""The base of the protocol state machines: one app, a cleared database per run, the oracle."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from app.extensions import limiter
from tests.fuzz.helpers import Answer, check_answer, clear_database, send


class ProtocolMachine(RuleBasedStateMachine):
    """Sends requests to ``app`` and checks every answer with :func:`check_answer`.

    Subclasses keep a model of the state their rules can change and compare it with the
    server's after every step (invariants). Each run starts on an empty database.
    """

    app = None  # bound by :func:`run_machine`

    def __init__(self):
        super().__init__()
        clear_database(self.app)
        limiter.reset()
        self.client = self.app.test_client()

    def request(
        self, method: str, path: str, data: bytes = b"", headers=None, query=None, ip=None
    ) -> Answer:
        """Send one request; the answer has already passed the oracle."""
        if query:
            path = f"{path}?{urlencode(query, errors='surrogatepass')}"
        answer = send(self.client, method, path, data, headers, ip)
        check_answer(method, path, answer)
        return answer


def run_machine(machine: type[ProtocolMachine], app, examples: int, steps: int) -> None:
    """Run ``machine`` against ``app``: ``examples`` runs of up to ``steps`` rules each."""
    bound = type(machine.__name__, (machine,), {"app": app})
    run_state_machine_as_test(
        bound,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
