"""Run schemathesis cases of every operation of a document against a live server.

Shared by the test of homepair's own document and the one of Ruuvi's: each operation gets
its own examples (so every one is exercised whatever the document's shape does to
Hypothesis's choices), the run is capped in time, and every answer passes the fuzz oracle
(:func:`tests.fuzz.helpers.check_answer`) before the caller's schemathesis checks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from requests.structures import CaseInsensitiveDict

from tests.fuzz.helpers import Answer, check_answer


def exercise(
    operations: Iterable,
    base_url: str,
    mode: str,
    apply_secrets: Callable,
    checks: Callable[[Answer], list],
    use_secrets: st.SearchStrategy[bool],
    examples: int,
    time_cap: float,
) -> tuple[set[str], set[str]]:
    """Call each operation's generated cases; ``(labels seen, labels with nothing to negate)``.

    ``use_secrets`` decides per case whether ``apply_secrets(case)`` puts real credentials
    in; ``checks(answer)`` gives the schemathesis checks its response must pass. Past
    ``time_cap`` seconds the remaining examples are skipped, not failed.
    """
    generation_mode = schemathesis.GenerationMode(mode)
    session = requests.Session()
    deadline = time.monotonic() + time_cap
    seen: set[str] = set()
    nothing_to_negate: set[str] = set()

    def one(case, secret: bool) -> None:
        if time.monotonic() > deadline:
            return
        if secret:
            apply_secrets(case)
        response = case.call(base_url=base_url, session=session, timeout=10)
        seen.add(case.operation.label)
        headers = CaseInsensitiveDict(
            {name: ", ".join(values) for name, values in response.headers.items()}
        )
        # A long-poll that ended idle: status and headers at once, then an empty body.
        held = response.content == b"" and headers.get("Transfer-Encoding") == "chunked"
        answer = Answer(response.status_code, headers, response.content, held)
        try:
            check_answer(case.method.upper(), case.formatted_path, answer)
        except AssertionError as exc:
            exc.add_note(case.as_curl_command(base_url=base_url))
            raise
        wanted = checks(answer)
        if wanted:
            case.validate_response(response, checks=wanted)

    try:
        for operation in operations:
            run = settings(max_examples=examples, suppress_health_check=list(HealthCheck))(
                given(
                    case=operation.as_strategy(generation_mode=generation_mode),
                    secret=use_secrets,
                )(one)
            )
            try:
                run()
            except Unsatisfiable:
                # Negative mode: an operation with nothing that can be made invalid.
                nothing_to_negate.add(operation.label)
    finally:
        session.close()
    return seen, nothing_to_negate
