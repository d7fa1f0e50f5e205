"""The forward and backward rules of every op, one file per concept.

Each ``tinysr/ops/NAME.py`` follows one contract (from CS231n)::

    out, cache = NAME_forward(x, ..., backend="numba")
    grads = NAME_backward(grad_output, cache, backend="numba")

with tiers of one signature: ``NAME_forward_reference`` / ``NAME_backward_reference`` (NumPy,
read these first) and ``NAME_forward_numba`` / ``NAME_backward_numba`` (the compiled kernels).

Files: ``conv2d``, ``activations`` (relu, leaky_relu, prelu, sigmoid, tanh), ``batchnorm``,
``pixel_shuffle`` (and unshuffle), ``linear``, ``flatten``, ``add`` (the residual add), ``losses``.
Ops know nothing of layers: ``tinysr.nn`` is built on them, not the other way round.
"""
