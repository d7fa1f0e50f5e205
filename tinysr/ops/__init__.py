"""The forward and backward rules of every op, one file per concept.

Each ``tinysr/ops/NAME.py`` follows one contract (from CS231n)::

    out, cache = NAME_forward(x, ...)
    grads = NAME_backward(grad_output, cache)

with tiers of one signature: ``NAME_forward_reference`` / ``NAME_backward_reference`` (NumPy,
read these first, here), ``NAME_forward_numba`` / ``NAME_backward_numba`` (the compiled kernels,
``tinysr/ops/cpu/NAME.py``) and the numba.cuda kernels of ``tinysr/ops/cuda/NAME.py``. Elementwise
ops also hold their scalar rules here, which both fast tiers compile. Which one runs is decided by one rule,
``tinysr.tiers.choose_tier``: an op's ``backend=`` argument, else the innermost
``with tinysr.tier("reference"):`` block, else the fastest tier for the arrays' device.

Files: ``conv2d``, ``conv_transpose2d``, ``activations`` (relu, leaky_relu, sigmoid, tanh), ``prelu``, ``batchnorm``,
``pixel_shuffle`` (and unshuffle), ``linear``, ``flatten``, ``add`` (the residual add), ``losses``,
``optim`` (the SGD and Adam updates).
Ops know nothing of layers: ``tinysr.nn`` is built on them, not the other way round.
"""
