"""Chapter 5, part 3: training nets per (seed, weight decay), their evaluation and the paired decay effects."""

import math

import pytest
import torch

from memsep_lib.experiments.hessian_lipschitz import networks as nw
from memsep_lib.mixtures import GaussianMixture
from memsep_lib.nets import ScoreMLP
from memsep_lib.stats import paired_difference

D = torch.float64


def _sets():
    return torch.randn(2, 4, 2, generator=torch.Generator().manual_seed(0))


def test_nets_of_a_seed_start_from_one_initialisation():
    nets = nw.train_networks(_sets(), (0.0, 0.5), width=8, depth=1, steps=1, batch_size=8, lr=1e-12,
                             schedule=("uniform", 1e-3, 1.0), seed=3)
    assert len(nets) == 2 and all(len(row) == 2 and isinstance(row[0], ScoreMLP) for row in nets)
    w = lambda net: torch.cat([p.flatten() for p in net.parameters()])
    assert torch.allclose(w(nets[0][0]), w(nets[0][1]), atol=1e-9)     # same seed: same start
    assert not torch.allclose(w(nets[0][0]), w(nets[1][0]), atol=1e-3)  # another seed: another start


def test_weight_decay_shrinks_the_weights_and_training_resumes(tmp_path):
    kwargs = dict(width=8, depth=1, steps=20, batch_size=8, lr=1e-2, schedule=("log_uniform", 1e-3, 1.0), seed=0)
    nets = nw.train_networks(_sets(), (0.0, 20.0), checkpoint=tmp_path / "nets.pt", **kwargs)
    for row in nets:
        assert row[1].spectral_norm_product() < 0.1 * row[0].spectral_norm_product()
    again = nw.train_networks(_sets(), (0.0, 20.0), checkpoint=tmp_path / "nets.pt", **kwargs)
    assert torch.equal(again[1][1].out.weight, nets[1][1].out.weight)            # restored, not retrained
    with pytest.raises(ValueError, match="weight_decays"):
        nw.train_networks(_sets(), (0.0, -1.0), **kwargs)
    with pytest.raises(ValueError, match="data_sets"):
        nw.train_networks(_sets()[0], (0.0,), **kwargs)
    with pytest.raises(ValueError, match="schedule"):
        nw.train_networks(_sets(), (0.0,), **{**kwargs, "schedule": ("uniform", 1e-3)})


def test_evaluate_score_net_and_score_mse():
    means = torch.tensor([[-1.0, 0.0], [1.0, 0.0]], dtype=D)
    gm = GaussianMixture(means, 0.1 * torch.eye(2, dtype=D).expand(2, 2, 2).clone())
    data = gm.sample(8, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    net = ScoreMLP(2, width=16, depth=2, time_embedding_dim=8)
    res = nw.evaluate_score_net(net, data, gm.score, [0.05, 0.5], num_points=64,
                                generator=torch.Generator().manual_seed(3))
    assert res["times"] == [0.05, 0.5]
    assert all(0 < lip <= b for lip, b in zip(res["lipschitz"], res["lipschitz_bound"]))
    assert all(v > 0 for v in res["mse_empirical"] + res["mse_true"] + res["mse_empirical_true"])
    x = torch.randn(10, 2, dtype=D)
    assert nw.score_mse(gm.score, gm.score, x, 0.1) == 0.0
    assert nw.score_mse(lambda y, t: y, lambda y, t: torch.zeros_like(y), x, 0.1) == pytest.approx(
        (x ** 2).sum(1).mean().item())
    with pytest.raises(TypeError, match="ScoreMLP"):
        nw.evaluate_score_net(gm, data, gm.score, [0.1])
    with pytest.raises(TypeError, match="callable"):
        nw.score_mse("f", gm.score, x, 0.1)


def _net(lip, emp, true, gap=(100.0, 10.0), product=10.0):
    return {"times": [0.003, 0.3], "lipschitz": lip, "lipschitz_bound": [1e4, 1e3], "mse_empirical": emp,
            "mse_true": true, "mse_empirical_true": list(gap), "spectral_norm_product": product, "num_parameters": 9}


def _networks():
    runs = [{"seed": r, "empirical_lipschitz": [1e5, 20.0],
             "by_decay": [_net([300.0 + r, 10.0], [2.0 + r, 0.5], [95.0, 9.0], product=50.0 + r),
                          _net([100.0 + 2 * r, 9.0], [40.0 + 3 * r, 0.6], [50.0 - r, 9.0], product=10.0 + r)]}
            for r in range(3)]
    return {"times": [0.003, 0.3], "weight_decays": [0.0, 0.5], "schedule": ["log_uniform", 1e-3, 1.0],
            "true_lipschitz": [12.0, 3.0], "runs": runs}


def test_relative_mse_follows_and_decay_effects():
    networks = _networks()
    base = networks["runs"][0]["by_decay"][0]
    assert nw.relative_mse(base, "mse_empirical") == [0.02, 0.05] and nw.follows(base) == [True, True]
    assert nw.follows(networks["runs"][0]["by_decay"][1]) == [False, True]
    effects = nw.decay_effects(networks)
    assert list(effects) == ["0.5"]
    e = effects["0.5"]
    lip = e["log_lipschitz"][0]
    expected = paired_difference([math.log(100.0 + 2 * r) for r in range(3)], [math.log(300.0 + r) for r in range(3)])
    assert lip == expected and lip["ci95"][1] < 0
    assert e["rel_mse_empirical"][0]["mean_diff"] == pytest.approx((38 + 2) / 100)      # (40 + 3r - 2 - r)/100
    assert e["rel_mse_true"][0]["ci95"][1] < 0 and e["log_spectral_product"]["ci95"][1] < 0
    table = nw.network_table(networks)
    assert table.count("\n| 0 |") == 2 and table.count("\n| 0.5") == 2 and "| 3/3 |" in table and "| 0/3 |" in table
    assert nw.effects_table(networks).count("\n| 0.5 |") == 2
    curves = nw.network_curves(networks)
    assert list(curves["decays"]) == ["0", "0.5"] and len(curves["decays"]["0.5"]["lipschitz"]) == 3
    assert curves["empirical_lipschitz"][2] == [1e5, 20.0]
