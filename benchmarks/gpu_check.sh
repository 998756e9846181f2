#!/usr/bin/env bash
# A prepared check for a lent GPU machine (well under 8 minutes): the unit tests on CUDA, then a few
# paper-profile DiT training steps, head importance, pruning and sampling, printing throughput.
# Run from the repository root:  bash benchmarks/gpu_check.sh
set -euo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__, torch.cuda.get_device_name())"

echo "== unit tests (CUDA visible; notebooks not collected)"
python3 -m pytest -q -o addopts="" -p no:cacheprovider tests

echo "== benchmarks"
python3 benchmarks/bench_dit.py --profile paper --device cuda --steps 20
python3 benchmarks/bench_dit.py --profile cpu --device cuda --steps 50

echo "== paper-profile DiT: training steps, importance, pruning, sampling"
python3 - <<'PY'
import time, torch
from memsep_lib.config import make_generator
from memsep_lib.dit import DiT, FlatScore
from memsep_lib.experiments.dit_pruning import CONFIGS
from memsep_lib.training import train_score_net
from memsep_lib.pruning import ablation_importance, heads_to_prune, importance_draws, taylor_importance, rank_agreement
from memsep_lib.sampling import sample

def timed(label, fn):
    torch.cuda.synchronize(); t = time.perf_counter(); out = fn(); torch.cuda.synchronize()
    print(f"{label}: {time.perf_counter() - t:.2f} s"); return out

cfg, dev = CONFIGS["paper"], torch.device("cuda")
torch.manual_seed(0)
model = DiT.from_config(cfg.dit, input_size=cfg.resolution).to(dev)
images = torch.rand(512, 3, 32, 32, device=dev) * 2 - 1
gen = make_generator(0, dev)
timed("200 training steps (batch 128)", lambda: train_score_net(FlatScore(model), images.flatten(1), steps=200,
      batch_size=cfg.batch_size, generator=gen, progress=False))
draws = importance_draws(images.cpu(), 256, horizon=cfg.horizon, generator=make_generator(0))
draws = type(draws)(draws.x0.to(dev), draws.t.to(dev), draws.z.to(dev))
abl = timed(f"ablation importance ({sum(model.heads_per_layer())} heads, 256 draws)", lambda: ablation_importance(model, draws))
tay = timed("Taylor importance", lambda: taylor_importance(model, draws))
print(f"rank agreement Taylor vs ablation: {rank_agreement(abl, tay):.2f}")
model.prune_heads(heads_to_prune(abl, cfg.prune_ratio))
print("heads after pruning:", sum(model.heads_per_layer()))
score = FlatScore(model.eval())
x = timed("sampling 512 images x 100 steps", lambda: sample(score, 512, score.dim, steps=100, batch_size=512,
          generator=make_generator(1, dev), device=dev))
print("samples finite:", bool(torch.isfinite(x).all()))
PY
