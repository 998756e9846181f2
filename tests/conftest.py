import pytest
import torch


@pytest.fixture
def gen():
    """A seeded CPU generator: every test draws reproducibly."""
    return torch.Generator().manual_seed(1234)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: the rendered book in headless Chromium (tests/test_book_browser.py); skipped "
                   "without chromium, chromedriver or a built book, run for real by .ci/run")
