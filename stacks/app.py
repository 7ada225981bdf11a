"""CDK entry point: ``python -m stacks.app`` (what ``cdk.json`` and ``make synth`` run)."""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.parts.bundle import LambdaAssets
from stacks.vss_restore_stack import VssRestoreStack


def build_app(outdir: str | None = None) -> cdk.App:
    # Under the CDK CLI, CDK_OUTDIR decides; run directly (make synth), it is cdk.out/.
    app = cdk.App(outdir=outdir or os.environ.get("CDK_OUTDIR") or "cdk.out")
    VssRestoreStack(
        app,
        app.node.try_get_context("stackName") or "VssRestore",
        assets=LambdaAssets.build(),
        description="vss-restore: restore Windows EC2 instances from VSS snapshot sets, with rollback",
    )
    # Environment-agnostic on purpose: deploy the same template into any account/region.
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app


if __name__ == "__main__":
    build_app().synth()
