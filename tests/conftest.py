import pytest
import torch


@pytest.fixture
def gen():
    """A seeded CPU generator: every test draws reproducibly."""
    return torch.Generator().manual_seed(1234)
