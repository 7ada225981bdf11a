"""The reduced reliability matrix (first occurrence of each operation x fault kind) in every
test run; ``make chaos`` runs the full one. Each case checks I1-I6 on the emulator's state."""

from __future__ import annotations

import pytest

from vss_restore.local.chaos import OPERATIONS, Case, matrix, run_case
from vss_restore.local.faults import FAULT_KINDS

CASES = matrix(reduced=True)


def test_reduced_matrix_covers_every_operation_and_fault_kind() -> None:
    assert {c.operation for c in CASES} == set(OPERATIONS)
    assert {c.fault for c in CASES} == set(FAULT_KINDS)
    assert len(CASES) == len(OPERATIONS) * len(FAULT_KINDS)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.operation}-{c.fault}")
def test_restore_keeps_every_invariant_when_a_call_fails(case: Case) -> None:
    outcome = run_case(case)
    assert outcome.injected == 1, "the fault was never reached"
    assert outcome.violations == []
    # every kind in the matrix is transient: the workflow retries through it
    assert outcome.status == "SUCCEEDED", outcome.error
