"""The numba.cuda tier of every op: one file per op, beside the CPU file it mirrors.

``tinysr/ops/cuda/NAME.py`` has the same public functions as ``tinysr/ops/NAME.py``, with the
same signatures, on numba.cuda device arrays::

    out, cache = NAME_forward(x, ...)            # x a device array; out and cache on the GPU
    grads = NAME_backward(grad_output, cache)

You rarely call these directly: the functions of ``tinysr/ops/NAME.py`` hand a device array to
them (``tinysr.device.is_device_array``). Read a CPU kernel first, then its CUDA kernel here:
each kernel's docstring says how the CPU loop was mapped onto threads and blocks.

Files: ``conv2d`` (tiled in shared memory), ``activations``, ``batchnorm``, ``pixel_shuffle``,
``linear`` (a 1x1 convolution), ``flatten``, ``add``, ``losses``, ``optim`` (the SGD and Adam
updates of ``tinysr/optim.py``), ``arrays`` (fill, ``+=``, copy, pad, crop on the GPU),
``_common`` (block size, checks, the block-wide sum) and ``_simulator`` (two thread races of
numba's CUDA simulator, mended when it runs). Importing any of them imports numba.cuda;
nothing in the CPU tiers imports this package.
"""
