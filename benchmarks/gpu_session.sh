#!/usr/bin/env bash
# Everything a GPU session checks for the Triton kernels, in one command: a lent GPU
# machine is held for minutes and each start costs minutes, so nothing is left to typing.
#
#   benchmarks/gpu_session.sh fetch        # here, with pip: the peers' wheels into .whl/
#   benchmarks/gpu_session.sh run [DIR]    # on the GPU machine, from the repository root
#
# `run` puts the peers' wheels (if .whl/ came along) and src/ on PYTHONPATH, records the
# GPU and the package versions, runs the Triton test modules (their equivalence grids run
# compiled on the GPU as well as in the interpreter), then the side-by-side CUDA neuron
# benchmark (`spikeforge bench neurons --device cuda`, run as `python3 -m spikeforge` from
# src/) and the CuBa / ALIF / LI one (`spikeforge bench variants`). Everything it prints also
# goes to DIR (default: $OUT when set, else benchmarks/results/gpu): session.txt,
# tests.txt, neurons_cuda.{txt,json}, variants_cuda.{txt,json}.
# It exits non-zero if the tests or the benchmark failed (both always run).
set -uo pipefail

# spikeforge's own pure-Python dependencies (the GPU machine has torch, not these) and the peers
PEERS=(omegaconf==2.4.0 tqdm==4.70.1
       spikingjelly==2.0.0 snntorch==1.0.0 norse==1.1.0 nir==1.0.8 nirtorch==2.6 loguru==0.7.3)

case "${1:-}" in
fetch)
    # pure-python wheels (norse is built from its source distribution)
    grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >>.git/info/exclude
    exec python3 -m pip wheel -q --no-deps -w .whl "${PEERS[@]}"
    ;;
run)
    out="${2:-${OUT:-benchmarks/results/gpu}}"
    mkdir -p "$out"
    site=/tmp/spikeforge-peers
    if compgen -G ".whl/*.whl" >/dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --upgrade --target "$site" .whl/*.whl || exit 1
    fi
    export PYTHONPATH="$PWD/src:$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    {
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
        python3 -c "import torch, triton, numpy; print('torch', torch.__version__, \
'| triton', triton.__version__, '| numpy', numpy.__version__, '| cuda', torch.cuda.is_available())"
    } 2>&1 | tee "$out/session.txt"
    # the compiled (cuda) half of the Triton tests: the interpreted half runs in CI anyway;
    # 8 workers compile the kernel variants in parallel. Each step has its own time limit,
    # so one that hangs leaves the others their share of a 10-minute device command.
    xdist=""
    python3 -c "import xdist" 2>/dev/null && xdist="-n 8"
    timeout 300 python3 -m pytest -q -p no:cacheprovider $xdist -k "cuda or gpu" \
        tests/test_kernels_triton*.py 2>&1 | tee "$out/tests.txt"
    tests=${PIPESTATUS[0]}
    timeout 200 python3 -m spikeforge bench neurons --device cuda --max-wait 0 \
        --json "$out/neurons_cuda.json" 2>&1 | tee "$out/neurons_cuda.txt"
    bench=${PIPESTATUS[0]}
    timeout 80 python3 -m spikeforge bench variants --device cuda \
        --json "$out/variants_cuda.json" 2>&1 | tee "$out/variants_cuda.txt"
    variants=${PIPESTATUS[0]}
    echo "tests exit $tests, benchmark exit $bench, variants exit $variants" |
        tee -a "$out/session.txt"
    [ "$tests" -eq 0 ] && [ "$bench" -eq 0 ] && [ "$variants" -eq 0 ]
    ;;
*)
    echo "usage: $0 fetch | run [DIR]" >&2
    exit 2
    ;;
esac
