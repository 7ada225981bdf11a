"""Synthesize the stack once per module (jsii start-up and synthesis take seconds)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from stacks.parts.bundle import LambdaAssets, build_code_asset
from stacks.vss_restore_stack import VssRestoreStack

Synth = Callable[..., tuple[VssRestoreStack, Template]]


@pytest.fixture(scope="session")
def asset_dirs(tmp_path_factory: pytest.TempPathFactory) -> LambdaAssets:
    """The real code asset, and a stand-in layer (template tests don't read its content)."""
    root = tmp_path_factory.mktemp("assets")
    layer = root / "layer"
    (layer / "python" / "pydantic").mkdir(parents=True)
    return LambdaAssets(code_dir=build_code_asset(root / "code"), layer_dir=layer)


@pytest.fixture(scope="session")
def synth(asset_dirs: LambdaAssets, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Build the stack (with cdk-nag) for a given context; cached per context."""
    cache: dict[str, tuple[VssRestoreStack, Template]] = {}

    def build(**context: Any) -> tuple[VssRestoreStack, Template]:
        key = repr(sorted(context.items()))
        if key not in cache:
            app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk.out")), context=context)
            stack = VssRestoreStack(app, "VssRestore", assets=asset_dirs)
            cdk.Aspects.of(app).add(AwsSolutionsChecks())
            app.synth()
            cache[key] = (stack, Template.from_stack(stack))
        return cache[key]

    return build


@pytest.fixture(scope="session")
def stack_and_template(synth: Synth) -> tuple[VssRestoreStack, Template]:
    return synth()


@pytest.fixture(scope="session")
def template(stack_and_template: tuple[VssRestoreStack, Template]) -> Template:
    return stack_and_template[1]
