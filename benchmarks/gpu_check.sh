#!/usr/bin/env bash
# The prepared check for a lent GPU machine: under 10 minutes on one GPU (README, "Checking a GPU machine").
#   env       python, torch, the GPUs, the packages and the CIFAR-10 files the steps need
#   bench     the DiT's achieved training FLOP/s against a bf16 matmul of its shape, sampling FLOP/s, and the
#             gpu / paper cost estimates at these rates (benchmarks/bench_dit_flops.py, one summary line)
#   gpu       the gpu profile of dit_pruning end to end (train, importance, prune, fine-tune, sample, evaluate):
#             at most 8 minutes, its results file copied to book/results/dit_pruning-gpu.json at the end
#   torchrun  torchrun --nproc_per_node=<gpus>: the experiments CLI on a tiny DiT config (DDP when 2+ GPUs)
#   tests     the unit tests with CUDA visible (the gpu-marked tests run)       } these two run side by side
#   nbval     every notebook under nbval, MEMSEP_DEVICE=cuda: every verdict must }
#             print what it prints on the CPU (TF32 and bf16 must not flip one; verdicts of stored results
#             files are re-derived from the files, only the cells that compute live run on the GPU)
#
# Usage, from anywhere:  bash benchmarks/gpu_check.sh [--cpu] [--dry-run] [--only STEP,...] [--budget S] [--out DIR]
#   --cpu      the plumbing without a GPU: every step on the CPU at tiny sizes (the ci profile instead of gpu, two
#              test files, one chapter, 2 gloo processes); nothing is copied into book/results
#   --dry-run  print what each step would run; run nothing
#   --budget   seconds for the whole check (default 570); each step is limited to what is left, and killed after
#   --out      folder for gpu_check.log (every step's output), summary.txt, bench_dit_flops.json and the
#              results file (default: $OUT when set, else a temporary folder)
# CIFAR-10: $MEMSEP_DATA_DIR, else shared/data/cifar10 inside or beside the checkout.
# A failed or timed-out step does not stop the others; the exit status is 1 if any step did not pass.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODE=gpu DRY=0 ONLY="" BUDGET=570 OUT_DIR="${OUT:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) MODE=cpu ;;
    --dry-run) DRY=1 ;;
    --only) ONLY="$2"; shift ;;
    --budget) BUDGET="$2"; shift ;;
    --out) OUT_DIR="$2"; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ "$BUDGET" =~ ^[0-9]+$ ]] || { echo "gpu_check.sh: --budget must be whole seconds, got $BUDGET" >&2; exit 2; }
for name in ${ONLY//,/ }; do
  case "$name" in env|bench|gpu|torchrun|tests|nbval) ;;
    *) echo "gpu_check.sh: unknown step $name in --only (env, bench, gpu, torchrun, tests, nbval)" >&2; exit 2 ;;
  esac
done
WORK="$(mktemp -d /tmp/gpu_check.XXXXXX)"
OUT_DIR="${OUT_DIR:-$WORK/out}"
mkdir -p "$OUT_DIR" "$WORK/logs"
if [ -z "${MEMSEP_DATA_DIR:-}" ]; then
  for d in shared/data/cifar10 ../shared/data/cifar10; do
    if [ -f "$d/cifar10_train.npz" ]; then MEMSEP_DATA_DIR="$(cd "$d" && pwd)"; break; fi
  done
fi
export MODE DRY WORK OUT_DIR MEMSEP_DATA_DIR="${MEMSEP_DATA_DIR:-}" PYTHONUNBUFFERED=1 MEMSEP_PROFILE=ci
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ "$MODE" = gpu ]; then export DEVICE=cuda; else export DEVICE=cpu OMP_NUM_THREADS=1 MKL_NUM_THREADS=1; fi
NGPU=$(python3 -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
XDIST=$(python3 -c "import xdist" 2>/dev/null && echo 1 || echo 0)
TIMEOUT_PLUGIN=$(python3 -c "import pytest_timeout" 2>/dev/null && echo 1 || echo 0)
export NGPU XDIST TIMEOUT_PLUGIN

x() {  # run a command (print it first); with --dry-run only print it
  echo "+ $*"
  if [ "$DRY" = 0 ]; then "$@"; fi
}

step_env() {
  set -euo pipefail
  x python3 - <<'PY'
import importlib.util, os, sys
import torch
from memsep_lib.results import results_path
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}, "
      f"{torch.cuda.device_count()} GPU(s): {[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}")
problems = []
if os.environ["MODE"] == "gpu" and not torch.cuda.is_available():
    problems.append("no CUDA device (use --cpu for the plumbing on a CPU)")
missing = [m for m in ("pytest", "nbval", "ipykernel", "nbformat", "tqdm", "scipy", "sympy", "matplotlib")
           if importlib.util.find_spec(m) is None]
if missing:
    problems.append(f"missing Python packages {missing} (carry them as wheels: README, 'Checking a GPU machine')")
data = os.environ.get("MEMSEP_DATA_DIR", "")
if not all(os.path.isfile(os.path.join(data, f)) for f in ("cifar10_train.npz", "cifar10_test.npz")):
    problems.append(f"no CIFAR-10 files in MEMSEP_DATA_DIR={data!r} (the gpu profile and chapter 7 need them)")
try:
    results_path("dit_pruning", "gpu")
except ValueError as err:
    note = f"results files cannot hold the gpu profile ({err}): memsep_lib/results.py must accept config.ALL_PROFILES"
    if os.environ["MODE"] == "gpu":
        problems.append(note)
    else:
        print(f"note (the gpu step of a GPU run would fail): {note}")
print("\n".join(f"PROBLEM: {p}" for p in problems) or "everything the steps need is here")
sys.exit(1 if problems else 0)
PY
}

step_bench() {
  set -euo pipefail
  if [ "$MODE" = gpu ]; then
    x python3 benchmarks/bench_dit_flops.py --profile gpu --device cuda --steps 20 --json "$WORK/bench_dit_flops.json"
  else
    x python3 benchmarks/bench_dit_flops.py --profile ci --device cpu --steps 2 --json "$WORK/bench_dit_flops.json"
  fi
}

step_gpu() {
  set -euo pipefail
  local profile=gpu
  [ "$MODE" = gpu ] || profile=ci
  MEMSEP_DEVICE=$DEVICE x python3 -m memsep_lib.experiments dit_pruning --profile "$profile" \
    --results-dir "$WORK/results"
  [ "$DRY" = 1 ] && return 0
  x python3 - "$WORK/results/dit_pruning-$profile.json" "$MODE" <<'PY'
import json, sys
from memsep_lib.experiments.dit_pruning import claims, results_table, verdict
record = json.load(open(sys.argv[1]))
print(results_table(record["results"]["table"], record["results"]["feature_space"]))
for claim, holds in verdict(record["results"]).items():
    print(f"{claim}: {holds}")
for claim, state in claims(record["results"]).items():
    print(f"{claim}: {state}")
wall = record["wall_time_s"]
print(f"profile {record['profile']} on {record['device']}: {wall:.0f} s end to end")
if sys.argv[2] == "gpu" and wall > 480:
    sys.exit(f"FAIL: {wall:.0f} s is over the gpu profile's 8 minutes: resize CONFIGS['gpu']")
PY
}

step_torchrun() {
  set -euo pipefail
  local nproc=2 rpu=2
  if [ "$MODE" = gpu ]; then
    nproc=$NGPU
    rpu=1
    if [ "$NGPU" -ge 2 ] && [ $((NGPU % 2)) -eq 0 ]; then rpu=2; fi
  fi
  MEMSEP_DEVICE=$DEVICE x python3 -m torch.distributed.run --standalone --nproc_per_node="$nproc" \
    tests/distributed_worker.py cli "$WORK/torchrun" --ranks-per-unit "$rpu"
  [ "$DRY" = 1 ] && return 0
  x python3 - "$WORK/torchrun/dit_pruning-ci.json" <<'PY'
import json, sys
from memsep_lib.experiments.dit_pruning import verdict
record = json.load(open(sys.argv[1]))
invariants = dict(list(verdict(record["results"]).items())[2:4])   # head counts and gates (a tiny model memorises nothing)
print(f"merged results of {len(record['results']['per_seed'])} seeds on {record['device']}:", invariants)
sys.exit(0 if all(invariants.values()) else "FAIL: an invariant of the torchrun run does not hold")
PY
}

pytest_opts() {  # parallel workers (pytest-xdist) and a per-test limit (pytest-timeout) where installed
  local opts=(-q -p no:cacheprovider -o addopts=)
  if [ "$XDIST" = 1 ] && [ "$MODE" = gpu ]; then opts+=(-n 6 --dist loadfile); fi   # 2 x 6 workers, 2 threads each
  if [ "$TIMEOUT_PLUGIN" = 1 ]; then opts+=(--timeout 300); fi
  echo "${opts[@]}"
}

step_tests() {
  set -euo pipefail
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
  if [ "$MODE" = gpu ]; then
    # shellcheck disable=SC2046
    x python3 -m pytest $(pytest_opts) -m "not browser" tests
  else
    # shellcheck disable=SC2046
    x python3 -m pytest $(pytest_opts) tests/test_speed.py tests/test_dit_flops.py
  fi
}

step_nbval() {
  set -euo pipefail
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
  local notebooks=(book/*.ipynb)
  [ "$MODE" = gpu ] || notebooks=(book/ch01_forward_process.ipynb)
  # shellcheck disable=SC2046
  MEMSEP_DEVICE=$DEVICE x python3 -m pytest $(pytest_opts) --nbval-lax --nbval-current-env "${notebooks[@]}"
}

export -f x step_env step_bench step_gpu step_torchrun pytest_opts step_tests step_nbval

START=$(date +%s)
declare -A STATUS SECONDS_TAKEN
ORDER=(env bench gpu torchrun tests nbval)
wanted() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
left() { echo $(( START + BUDGET - $(date +%s) )); }

launch() {  # launch STEP: run step_STEP in the background, limited to the time left; its log in $WORK/logs
  local name=$1 limit
  limit=$(left)
  if [ "$limit" -lt 15 ]; then STATUS[$name]="not run (no time left)"; return; fi
  echo "== $name (limit $limit s)"
  : >"$WORK/logs/$name.log"
  ( s=$(date +%s); rc=0
    timeout --kill-after=10 "$limit" bash -c "step_$name" >"$WORK/logs/$name.log" 2>&1 || rc=$?
    echo "$rc $(( $(date +%s) - s ))" >"$WORK/logs/$name.rc" ) &
}

finish() {  # finish STEP: wait for it, record its status and time, show the end of its output
  local name=$1 rc secs
  [ -f "$WORK/logs/$name.log" ] || return 0
  while [ ! -f "$WORK/logs/$name.rc" ]; do sleep 1; done
  read -r rc secs <"$WORK/logs/$name.rc"
  SECONDS_TAKEN[$name]=$secs
  case "$rc" in
    0) STATUS[$name]=$([ "$DRY" = 1 ] && echo "dry run" || echo passed) ;;
    124|137) STATUS[$name]="timed out" ;;
    *) STATUS[$name]="failed (exit $rc)" ;;
  esac
  echo "-- $name: ${STATUS[$name]} in $secs s"
  tr '\r' '\n' <"$WORK/logs/$name.log" | grep -v '^\s*$' | tail -n "$([ "$rc" = 0 ] && echo 12 || echo 40)" | sed 's/^/   /'
}

echo "gpu_check.sh: mode $MODE, budget $BUDGET s, $NGPU GPU(s), work folder $WORK, output folder $OUT_DIR"
echo "MEMSEP_DATA_DIR=${MEMSEP_DATA_DIR:-<unset>}  pytest-xdist: $XDIST  pytest-timeout: $TIMEOUT_PLUGIN"
for name in env bench gpu torchrun; do
  if wanted "$name"; then launch "$name"; finish "$name"; fi
done
for name in tests nbval; do wanted "$name" && launch "$name"; done
for name in tests nbval; do wanted "$name" && finish "$name"; done
wait

failed=0
for name in "${ORDER[@]}"; do
  if wanted "$name"; then
    case "${STATUS[$name]:-}" in passed|"dry run") ;; *) failed=1 ;; esac
  fi
done
{
  echo "gpu_check.sh summary (mode $MODE, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(( $(date +%s) - START )) s in all):" \
    "$([ "$failed" = 0 ] && echo "every step passed" || echo "NOT every step passed")"
  for name in "${ORDER[@]}"; do
    wanted "$name" || continue
    printf '  %-9s %-26s %s\n' "$name" "${STATUS[$name]:-not run}" "${SECONDS_TAKEN[$name]:+${SECONDS_TAKEN[$name]} s}"
  done
  grep -h '^bench_dit_flops:' "$WORK/logs/bench.log" 2>/dev/null || true
} | tee "$OUT_DIR/summary.txt"
for name in "${ORDER[@]}"; do
  if [ -f "$WORK/logs/$name.log" ]; then echo "===== $name"; tr '\r' '\n' <"$WORK/logs/$name.log"; fi
done >"$OUT_DIR/gpu_check.log"
[ -f "$WORK/bench_dit_flops.json" ] && cp "$WORK/bench_dit_flops.json" "$OUT_DIR/"
for f in "$WORK"/results/dit_pruning-*.json; do
  [ -f "$f" ] || continue
  cp "$f" "$OUT_DIR/"
  if [ "$MODE" = gpu ] && [ "${STATUS[gpu]:-}" = passed ]; then cp "$f" book/results/ && echo "wrote book/results/$(basename "$f")"; fi
done
exit "$failed"
