"""Shared fixtures: seeded generators (function-scoped, never shared mutable state)."""

import pytest
import torch


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)
