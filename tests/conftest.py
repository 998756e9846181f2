import pytest
import torch


@pytest.fixture
def gen():
    """A seeded CPU generator: every test draws reproducibly."""
    return torch.Generator().manual_seed(1234)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: the rendered book and a chapter in JupyterLab, in headless Chromium "
                   "(tests/test_book_browser.py, tests/test_jupyterlab.py); skipped without chromium, "
                   "chromedriver or a built book, run for real by .ci/run")
