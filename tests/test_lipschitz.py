"""memsep_lib.lipschitz: autograd Jacobians, spectral norms, local Lipschitz constants and their maximiser."""

import pytest
import torch

from memsep_lib.lipschitz import autograd_jacobian, jacobian_fn, local_lipschitz, maximize_local_lipschitz, spectral_norm
from memsep_lib.mixtures import GaussianMixture
from memsep_lib.nets import ScoreMLP
from memsep_lib.process import alpha, sigma
from memsep_lib.scores import empirical_score, empirical_score_hessian

D = torch.float64


def _rel(a, b):
    return ((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).max().item()


@pytest.mark.parametrize("t", [1e-4, 0.05, 1.5])
def test_autograd_jacobians_are_the_analytic_hessians(t, gen):
    means = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]], dtype=D)
    mixture = GaussianMixture(means, 0.25 * torch.eye(2, dtype=D).expand(4, 2, 2).clone())
    data = mixture.sample(12, torch.Generator().manual_seed(0))
    x = alpha(t) * data + sigma(t) * torch.randn(data.shape, generator=gen, dtype=D)
    emp = autograd_jacobian(lambda y, tt: empirical_score(y, tt, data), x, t)
    assert _rel(emp, empirical_score_hessian(x, t, data)) < 1e-10
    assert _rel(autograd_jacobian(mixture.score, x, t), mixture.hessian(x, t)) < 1e-10
    assert _rel(jacobian_fn(mixture.score)(x, t), mixture.hessian(x, t)) < 1e-10


def test_autograd_jacobian_of_a_linear_map():
    A = torch.tensor([[1.0, 2.0], [-3.0, 0.5]], dtype=D)
    x = torch.randn(4, 2, dtype=D)
    J = autograd_jacobian(lambda y, t: y @ A.T, x, 0.1)
    assert torch.allclose(J, A.expand(4, 2, 2))
    assert torch.allclose(spectral_norm(J), torch.linalg.svdvals(A)[0].expand(4))
    assert torch.allclose(local_lipschitz(jacobian_fn(lambda y, t: y @ A.T), x, 0.1), spectral_norm(J))


def test_search_never_decreases_and_finds_the_two_point_maximum():
    data = torch.tensor([[0.0, 0.0], [0.5, 0.0]], dtype=D)
    t = 1e-3
    hess = lambda x, tt: empirical_score_hessian(x, tt, data)
    # start off the midpoint, along the segment and off it
    starts = alpha(t) * torch.tensor([[0.2, 0.05], [0.3, -0.1], [0.26, 0.0]], dtype=D)
    res = maximize_local_lipschitz(hess, starts, t, steps=60)
    assert (res.values >= local_lipschitz(hess, starts, t) * (1 - 1e-12)).all()
    # for two points, sup_x L(x) is reached on the bisector: a^2 D^2 / (4 s^4) - 1/s^2
    expected = alpha(t) ** 2 * 0.5 ** 2 / (4 * sigma(t) ** 4) - 1 / sigma(t) ** 2
    assert res.value == pytest.approx(expected, rel=1e-6)
    assert abs(res.argmax[0].item() - alpha(t) * 0.25) < 1e-4


def test_spectral_norm_search_on_a_network_jacobian():
    """The generic use: any score network, its Jacobian by autograd (differentiable with create_graph)."""
    torch.manual_seed(0)
    net = ScoreMLP(2, width=16, depth=2, time_embedding_dim=8, activation="silu").double()
    starts = torch.randn(6, 2, dtype=D)
    t = 0.1
    res = maximize_local_lipschitz(jacobian_fn(net, create_graph=True), starts, t, steps=10,
                                   objective="spectral_norm", step_size=0.1)
    start_values = local_lipschitz(jacobian_fn(net), starts, t)
    assert (res.values >= start_values * (1 - 1e-12)).all() and res.value > start_values.max().item()
    assert res.value <= net.lipschitz_bound(t)
    assert res.value == pytest.approx(local_lipschitz(jacobian_fn(net), res.argmax[None], t).item(), rel=1e-10)


def test_bad_inputs():
    x = torch.randn(3, 2, dtype=D)
    with pytest.raises(TypeError, match="score_fn must be callable"):
        autograd_jacobian("f", x, 0.1)
    with pytest.raises(ValueError, match="shape"):
        local_lipschitz(lambda y, t: y, x, 0.1)
    with pytest.raises(ValueError, match="shape"):
        spectral_norm(torch.zeros(2, 3))
    hess = lambda y, t: -torch.eye(2, dtype=D).expand(y.shape[0], 2, 2) / sigma(t) ** 2
    with pytest.raises(ValueError, match="step_size"):
        maximize_local_lipschitz(hess, x, 0.1, step_size=-1.0)
    with pytest.raises(ValueError, match="objective"):
        maximize_local_lipschitz(hess, x, 0.1, objective="trace")
    with pytest.raises(ValueError, match="grow"):
        maximize_local_lipschitz(hess, x, 0.1, grow=0.5)
