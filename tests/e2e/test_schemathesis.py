"""Property-based API testing: schemathesis generates requests from our OpenAPI schema and sends them to the
real embedded stack (`aisre up`) with a valid admin key; no generated request may get a 5xx."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode

from tests.e2e.conftest import EmbeddedStack

# Per operation and mode; the schema has ~40 operations, so this yields well over 1,000 cases.
EXAMPLES = 30
MIN_CASES = 1000


def create_key(stack: EmbeddedStack, role: str) -> str:
    """`aisre keys create`, as an operator would run it against the stack's data directory."""
    env = stack.env()
    env["AI_SRE_DATA_DIR"] = str(stack.data_dir)
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "keys", "create", "--workspace", "default", "--role", role, "--name", role],
        env=env,
        cwd=stack.data_dir.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert key.startswith("aisre_"), done.stdout
    return key


@pytest.mark.timeout(900)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_generated_requests_never_get_a_server_error(make_stack: Callable[[], EmbeddedStack]) -> None:
    stack = make_stack()
    stack.start()
    admin = create_key(stack, "admin")
    schema = schemathesis.openapi.from_url(f"{stack.api}/openapi.json")
    cases = 0
    errors: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # Err raises here: the schema must be valid
        started, before = time.monotonic(), cases
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                nonlocal cases
                cases += 1
                response = case.call(headers={"X-API-Key": admin}, timeout=60)
                if response.status_code >= 500:
                    errors.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: "
                        f"{response.text[:300]}\n  query={case.query} body={str(case.body)[:300]}"
                    )

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                # An operation without inputs (GET /health) has no invalid variant to generate.
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no positive case could be generated"
        print(f"{operation.label}: {cases - before} cases in {time.monotonic() - started:.1f}s", file=sys.stderr)
    assert stack.process is not None
    assert stack.process.poll() is None, "the stack died during the run"
    assert cases >= MIN_CASES, f"only {cases} generated cases"
    assert not errors, f"{len(errors)} of {cases} cases got a 5xx:\n" + "\n".join(errors[:20])
    print(f"schemathesis: {cases} cases, 0 server errors")
