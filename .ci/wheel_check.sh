#!/usr/bin/env bash
# The package as a user gets it: build the wheel, install it (with the data extra, for the
# bundled digits) into a fresh venv outside the repository, and from another directory run
# `spikeforge --version`, `spikeforge config show lasnn_digits` and the smallest demo (every
# stage one epoch). Fails when a config, the C kernel sources or any package data are
# missing from the wheel. Usage: .ci/wheel_check.sh [PYTHON]   (make wheel-check)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-python3}"
start=$(date +%s)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$PY" -m pip wheel -q --no-deps -w "$work/dist" . 2>&1 | grep -v "^WARNING: Location" || true
wheel="$(ls "$work"/dist/spikeforge-*.whl)"
"$PY" -m venv "$work/venv"
"$work/venv/bin/pip" install -q torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
"$work/venv/bin/pip" install -q "${wheel}[data]" 2>&1 | grep -v "^WARNING: Location" || true
mkdir "$work/elsewhere"
cd "$work/elsewhere"
"$work/venv/bin/spikeforge" --version
"$work/venv/bin/python" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["spikeforge/py.typed", "spikeforge/configs/lasnn_digits.yaml", "spikeforge/kernels/cpu/lif.c"]
missing = [n for n in need if n not in names]
licence = [n for n in names if n.endswith("licenses/LICENSE") or n.endswith("/LICENSE")]
assert not missing, f"wheel lacks {missing}"
assert licence, "wheel lacks the LICENSE file"
print(f"wheel holds {len(names)} files incl. py.typed, configs, C sources, {licence[0]}")
PY
"$work/venv/bin/spikeforge" config show lasnn_digits > shown.yaml
grep -q "^pipeline: lasnn" shown.yaml
"$work/venv/bin/spikeforge" demo teacher.train.epochs=1 intermediate.train.epochs=1 \
    student.train.epochs=1 "conversion.timesteps=[4, 8]" --json demo.json
grep -q '"status": "complete"' demo.json
echo "wheel check passed in $(( $(date +%s) - start )) s"
