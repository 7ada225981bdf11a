"""``make demo`` restores the demo server and tells the reader what happened."""

from __future__ import annotations

import pytest

from vss_restore import demo


def test_demo_restores_the_older_complete_set_and_explains_the_skipped_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # WHEN the demo runs
    exit_code = demo.main()

    # THEN it succeeds, names the chosen and the skipped set, and every setting was kept
    out = capsys.readouterr().out
    chosen, skipped = demo.SETS[1][0], demo.SETS[2][0]
    assert exit_code == 0
    assert "Result: SUCCEEDED" in out
    assert f"Chosen set: {chosen}" in out
    assert f"skipped newer set {skipped}: xvdg" in out
    assert "DIFFERENT" not in out
    assert out.count(" all\n") == 4
    assert "every device holds its restored volume: True" in out
    assert "State path: ValidateRequest" in out
