#!/usr/bin/env bash
# Start (or resume) the long CPU runs of this folder, two queues, one core each, in the
# background; each pipeline resumes where the last commit left it (README.md here).
#   bash benchmarks/runs/run.sh            start both queues
#   bash benchmarks/runs/run.sh --commit   also commit finished stages every 10 minutes
#   bash benchmarks/runs/run.sh --stop     SIGINT every run (each saves its last.pt),
#                                          then commit.sh --unfinished
# Queue 1: LaSNN cifar10-small (3 seeds), then its second-look sweep (1 seed).
# Queue 2: Spikformer V2 MAE cifar10-small (3 seeds), then the T-RevSNN comparison.
# Logs: $LOGS (default /tmp/spikeforge-runs), one file per queue.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
LOGS=${LOGS:-/tmp/spikeforge-runs}
mkdir -p "$LOGS"
SPIKEFORGE=${SPIKEFORGE:-.venv/bin/spikeforge}
PATTERN=${PATTERN:-spikeforge run }  # how pgrep/pkill find the runs (another for tests)
if [ "${1:-}" = "--stop" ]; then
    # the queues first (TERM: a queue must not start its next pipeline when the current
    # one returns), then the pipelines themselves (INT: each saves its stage's last.pt)
    pkill -TERM -f "runs/run.sh queue" || true
    pkill -f "runs/run.sh committer" || true
    pkill -INT -f "$PATTERN" || true
    while pgrep -f "$PATTERN" >/dev/null; do sleep 2; done
    exec bash benchmarks/runs/commit.sh --unfinished
fi
R=benchmarks/runs
run() {  # one pipeline, one core, lowest priority; returns its exit status
    OMP_NUM_THREADS=1 SPIKEFORGE_MALLOC=keep nice -n 19 "$SPIKEFORGE" run "$@" \
        base.train.progress=false
}
if [ "${1:-}" = "queue" ]; then
    case "$2" in
        1) run lasnn --dataset cifar10-small --seeds 3 --run-dir $R/lasnn-cifar10-small \
               --json $R/lasnn-cifar10-small.json \
           && run lasnn --config lasnn_cifar10_small_sweep --seeds 1 \
               --run-dir $R/lasnn-cifar10-small-sweep --json $R/lasnn-cifar10-small-sweep.json ;;
        2) run mae --dataset cifar10-small --seeds 3 --run-dir $R/mae-cifar10-small \
               --json $R/mae-cifar10-small.json \
           && run compare --config compare_trevsnn_cifar10_small \
               --run-dir $R/compare-trevsnn-cifar10-small \
               --json $R/compare-trevsnn-cifar10-small.json ;;
    esac
    exit $?
fi
if [ "${1:-}" = "committer" ]; then
    while sleep "${COMMIT_EVERY:-600}"; do bash benchmarks/runs/commit.sh || true; done
    exit 0
fi
if pgrep -f "$PATTERN" >/dev/null; then
    echo "runs are already going (pgrep -af 'spikeforge run')" >&2
    exit 2
fi
nohup bash "$0" queue 1 >> "$LOGS/queue1.log" 2>&1 &
nohup bash "$0" queue 2 >> "$LOGS/queue2.log" 2>&1 &
if [ "${1:-}" = "--commit" ]; then
    nohup bash "$0" committer >> "$LOGS/commits.log" 2>&1 &
fi
echo "started; logs in $LOGS"
