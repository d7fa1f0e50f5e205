#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py says what it runs): on a machine with an NVIDIA GPU, from a
# plain checkout, with nothing installed but numba, numba-cuda and tinysr's other needs.
#
#   benchmarks/gpu_check.sh [REPORT_DIR]          # default REPORT_DIR: gpu_check_report
#
# A package tinysr needs that the machine lacks (pypng, say) can come as wheels in .whl/ at the
# checkout's root; they are installed into /tmp/site, outside the machine's own Python.
set -uo pipefail
cd "$(dirname "$0")/.."
python_bin=${PYTHON:-python3}
if ! "$python_bin" -c "import png" 2>/dev/null; then
    if ls .whl/*.whl >/dev/null 2>&1; then
        "$python_bin" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl || exit 1
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    else
        echo "gpu_check: pypng is not installed and no .whl/ folder holds it (see the device tool's README)" >&2
        exit 1
    fi
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
exec "$python_bin" benchmarks/gpu_check.py --out "${1:-gpu_check_report}" "${@:2}"
