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
# numba-cuda 0.30.4 registers an overload for numpy.row_stack, which NumPy 2.5 removed: its import
# fails there. For this check only, a sitecustomize puts the alias back (vstack is what it was).
if ! "$python_bin" -c "import numpy; numpy.row_stack" 2>/dev/null; then
    mkdir -p /tmp/gpu_check_shim
    printf 'import numpy\nnumpy.row_stack = numpy.vstack\n' >/tmp/gpu_check_shim/sitecustomize.py
    export PYTHONPATH=/tmp/gpu_check_shim${PYTHONPATH:+:$PYTHONPATH}
    echo "gpu_check: NumPy $("$python_bin" -c 'import numpy; print(numpy.__version__)') has no row_stack," \
         "which numba-cuda imports: aliased to vstack for this run" >&2
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
exec "$python_bin" benchmarks/gpu_check.py --out "${1:-gpu_check_report}" "${@:2}"
