"""Test-session setup shared by every test module."""

import os

import pytest

# Before any test imports torch: idle OpenMP workers of torch's matmuls sleep instead of spinning.
# On a loaded 2-core machine spinning workers wait on descheduled siblings (measured: the LightGlue
# tests took 112 s instead of 8 s); the workflow sets the same (workflow/rules/common.smk).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture
def torch_one_thread():
    """torch on one thread for the test (restored after): same bytes as the one-thread runs."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def tiny_config() -> dict:
    """A fresh copy of the workflow's small test case (.test/config/config.yaml) to change."""
    from workflow_run import tiny

    return tiny()
