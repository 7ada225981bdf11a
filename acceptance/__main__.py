"""``python -m acceptance [--cleanup-only] [pytest arguments]`` (what ``make aws-test`` runs).

Without ``VSS_RESTORE_AWS_TEST=1``, credentials or a region it says why and exits 0 before
importing anything that could reach AWS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from acceptance.gate import why_not

SUITE = Path(__file__).resolve().parent / "suite"
REPO = SUITE.parent.parent


def _cleanup() -> int:
    import boto3

    from acceptance.run import CdkStack, remove_all
    from acceptance.sandbox import Sandbox

    session = boto3.Session()
    sandbox = Sandbox(session.client("ec2"), session.client("iam"), None)
    problems = remove_all(sandbox, CdkStack(session, None))
    for problem in problems:
        print(problem, file=sys.stderr)
    print("cleanup: " + ("incomplete" if problems else "nothing of earlier runs is left"))
    return 1 if problems else 0


def _suite(pytest_args: list[str]) -> int:
    from acceptance.run import RUN_ID_ENV
    from acceptance.sandbox import new_run_id

    if shutil.which("npx") is None:
        print("aws-test: needs npx (Node.js) for the CDK CLI", file=sys.stderr)
        return 2
    subprocess.run(["make", "bundle"], cwd=REPO, check=True)  # noqa: S607 - the layer cdk deploys
    run_id = os.environ.get(RUN_ID_ENV) or new_run_id()
    print(
        f"aws-test: run {run_id} (everything it creates is tagged vss-restore-acceptance={run_id})"
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", str(SUITE)]
    return subprocess.call(  # noqa: S603 - our own interpreter and suite
        [*command, *pytest_args], cwd=REPO, env={**os.environ, RUN_ID_ENV: run_id}
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m acceptance", description=__doc__)
    parser.add_argument(
        "--cleanup-only",
        action="store_true",
        help="remove what earlier runs left behind (found by their tags), run nothing",
    )
    args, pytest_args = parser.parse_known_args(argv)
    reason = why_not(os.environ)
    if reason is not None:
        print(f"aws-test: skipped, nothing was created or called: {reason}")
        return 0
    return _cleanup() if args.cleanup_only else _suite(pytest_args)


if __name__ == "__main__":
    sys.exit(main())
