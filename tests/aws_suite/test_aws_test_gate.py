"""``make aws-test`` without opt-in or credentials: says why, exits 0, reaches no network."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from acceptance.gate import OPT_IN_ENV, why_not

REPO = Path(__file__).resolve().parents[2]


class ConnectionCounter:
    """A local listener posing as the HTTP(S) proxy: every request anything sends lands here."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return  # closed
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def proxy() -> Iterator[ConnectionCounter]:
    counter = ConnectionCounter()
    yield counter
    counter.close()


def _aws_test(
    tmp_path: Path, proxy: ConnectionCounter, *, args: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """``make aws-test`` with an environment holding no AWS settings but ``env``."""
    empty = tmp_path / "empty"
    empty.write_text("")
    proxy_url = f"http://127.0.0.1:{proxy.port}"
    clean = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": f"{REPO / 'src'}:{REPO}",
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        # The instance-metadata credential source is not proxied: switched off, as off EC2.
        "AWS_EC2_METADATA_DISABLED": "true",
        "HTTPS_PROXY": proxy_url,
        "HTTP_PROXY": proxy_url,
        "https_proxy": proxy_url,
        "http_proxy": proxy_url,
        **env,
    }
    # The shared virtualenv is installed already: its stamp is not remade here.
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "aws-test", f"ARGS={args}"],  # noqa: S607
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_aws_test_exits_0_having_called_nothing_when_not_opted_in(
    tmp_path: Path, proxy: ConnectionCounter
) -> None:
    # GIVEN credentials and a region, but no opt-in
    # WHEN make aws-test runs
    result = _aws_test(
        tmp_path,
        proxy,
        AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY="example",
        AWS_DEFAULT_REGION="eu-west-1",
    )

    # THEN it says why, exits 0, and nothing went out on the network
    assert result.returncode == 0, result.stderr
    assert f"{OPT_IN_ENV} is not 1" in result.stdout
    assert "nothing was created or called" in result.stdout
    assert proxy.connections == 0


def test_aws_test_exits_0_having_called_nothing_when_opted_in_without_credentials(
    tmp_path: Path, proxy: ConnectionCounter
) -> None:
    # GIVEN the opt-in and a region, but no credentials anywhere
    # WHEN make aws-test runs
    result = _aws_test(tmp_path, proxy, VSS_RESTORE_AWS_TEST="1", AWS_DEFAULT_REGION="eu-west-1")

    # THEN it says why, exits 0, and nothing went out on the network
    assert result.returncode == 0, result.stderr
    assert "no AWS credentials found" in result.stdout
    assert proxy.connections == 0


def test_aws_test_cleanup_only_exits_0_having_called_nothing_when_not_opted_in(
    tmp_path: Path, proxy: ConnectionCounter
) -> None:
    # GIVEN credentials, but no opt-in
    # WHEN the cleanup of earlier runs is asked for
    result = _aws_test(
        tmp_path,
        proxy,
        args="--cleanup-only",
        AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY="example",
        AWS_DEFAULT_REGION="eu-west-1",
    )

    # THEN it removes nothing and calls nothing
    assert result.returncode == 0, result.stderr
    assert f"{OPT_IN_ENV} is not 1" in result.stdout
    assert proxy.connections == 0


def test_gate_names_the_region_when_opted_in_with_credentials_but_no_region(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN the opt-in and credentials (the suite's fake ones), no region anywhere
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)

    # WHEN the gate is asked
    reason = why_not({OPT_IN_ENV: "1"})

    # THEN it refuses, naming the missing region
    assert reason is not None
    assert "AWS_DEFAULT_REGION" in reason


def test_gate_lets_the_suite_run_when_opted_in_with_credentials_and_region() -> None:
    # GIVEN the opt-in, and the suite's fake credentials and region (tests/conftest.py)
    # WHEN the gate is asked THEN nothing stops the run
    assert why_not({OPT_IN_ENV: "1"}) is None
