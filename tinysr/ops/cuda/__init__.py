"""The numba.cuda tier of every op: one file per op, under the name of the op file it mirrors.

Every op file here holds ``NAME_forward_cuda`` / ``NAME_backward_cuda`` with the arguments of
``NAME_forward_reference`` / ``NAME_backward_reference`` in ``tinysr/ops/NAME.py``, which has
already checked the arrays (one check for every tier) and picked this tier. The elementwise
kernels of ``activations``, ``losses`` and ``optim`` are made from the scalar rules written there
(``maps.py``), so the CPU and GPU tiers share each rule; the convolution's tiled matrix-product
kernels are in ``conv2d_tiles.py``.

You rarely call these directly: ``tinysr/ops/NAME.py`` hands a device array to them
(``tinysr.tiers.choose_tier``). Read the CPU tier first, then the CUDA one: each kernel's
docstring says how the CPU loop was mapped onto threads and blocks. Also here: ``arrays`` (fill,
``+=``, copy, pad, crop on the GPU), ``_common`` (block size, checks, the block-wide sum), ``maps``
(elementwise and summed kernels from a scalar rule) and ``_simulator`` (two thread races of
numba's CUDA simulator, mended when it runs). Importing any of them imports numba.cuda;
nothing in the CPU tiers imports this package.
"""
