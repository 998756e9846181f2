"""``dit_flops`` / ``DiT.flops_per_image`` against ``torch.utils.flop_counter`` on the CPU.

The counter sees the attention matmuls only through PyTorch's math kernel (the fused CPU kernel is not
counted), so the counted passes run under ``sdpa_kernel(SDPBackend.MATH)``.
"""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from memsep_lib.dit import DiT, FlatScore, dit_flops
from memsep_lib.losses import dsm_loss


def counted_flops(fn) -> int:
    """Matmul FLOPs that ``torch.utils.flop_counter`` counts for ``fn()``."""
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@pytest.mark.parametrize("remove", [{}, {0: [1, 2], 3: [0, 1, 2, 3]}], ids=["all heads", "pruned, a layer empty"])
def test_forward_and_training_flops_equal_the_counted_ones(remove):
    torch.manual_seed(0)
    model = DiT.from_config("DiT-cpu/2", input_size=8)
    model.prune_heads(remove)
    x, t = torch.rand(3, 3, 8, 8) * 2 - 1, torch.full((3,), 0.1)
    assert counted_flops(lambda: model(x, t)) == 3 * model.flops_per_image()
    net = FlatScore(model)
    assert counted_flops(lambda: dsm_loss(net, x.flatten(1), t).mean().backward()) == \
        3 * model.flops_per_image(training=True)


def test_flops_follow_the_formula_and_the_heads():
    arch = dict(input_size=8, patch_size=2, hidden_size=32, depth=2, num_heads=4)
    N, D, P, M, F = 16, 32, 12, 128, 256        # tokens, hidden, patch values, MLP width, frequency features
    per_block = 12 * D * D + 6 * N * D * D + 4 * N * N * D + 2 * N * D * D + 4 * N * D * M
    outside = 2 * N * P * D + 2 * (F * D + D * D) + 4 * D * D + 2 * N * D * P
    assert dit_flops(**arch) == outside + 2 * per_block
    assert dit_flops(**arch, training=True) == 3 * (outside + 2 * per_block) - (2 * N * P * D + 2 * F * D)
    # FLOPs are linear in each layer's heads: removing heads anywhere lowers them by the same amount
    assert dit_flops(**arch, heads_per_layer=[2, 4]) == dit_flops(**arch, heads_per_layer=[4, 2]) < dit_flops(**arch)


def test_flops_bad_inputs():
    arch = dict(input_size=8, patch_size=2, hidden_size=32, depth=2, num_heads=4)
    with pytest.raises(ValueError, match="heads_per_layer"):
        dit_flops(**arch, heads_per_layer=[4])
    with pytest.raises(ValueError, match="heads_per_layer"):
        dit_flops(**arch, heads_per_layer=[4, 5])
    with pytest.raises(TypeError, match="training"):
        dit_flops(**arch, training="yes")
    with pytest.raises(ValueError, match="patch_size"):
        dit_flops(**{**arch, "input_size": 9})
    with pytest.raises(ValueError, match="depth"):
        dit_flops(**{**arch, "depth": 0})
