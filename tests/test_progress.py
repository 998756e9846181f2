import pytest

from memsep_lib.progress import progress_bar


def test_progress_bar_is_on_only_when_asked():
    assert progress_bar(range(3), enabled=False).disable
    assert not progress_bar(range(3), enabled=True, desc="x").disable
    assert list(progress_bar(range(3), enabled=False)) == [0, 1, 2]
    with pytest.raises(TypeError, match="enabled"):
        progress_bar(range(3), enabled="cpu")
