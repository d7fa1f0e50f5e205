"""numba.cuda tier of ``tinysr/ops/losses.py``: MSE, L1, BCE and BCE-with-logits on the GPU.

The scalar rules are the ones in ``tinysr/ops/losses.py``, compiled for the GPU by ``maps``.
Forward: the loss is a mean over all n elements, accumulated in float64 as on the CPU, in two
steps (``maps.summed``): blocks of threads each add up their share with a grid-stride loop and
``block_sum``, then one small kernel adds the blocks' partial sums and the one float64 is copied
back to the host (the loss is a Python float, as on the CPU: the one place where a training step
waits for the GPU). Backward: one thread per element, ``rule_grad(p[i], y[i], grad_output / n)``.
Every function equals the ``*_reference`` function of the same name there; the public ops have
checked the arrays already.
"""

from __future__ import annotations

from tinysr.ops import losses as rules
from tinysr.ops.cuda._common import empty_like
from tinysr.ops.cuda.maps import elementwise, summed

_SUMS = {name: summed(getattr(rules, name)) for name in ("mse", "l1", "bce", "bce_with_logits")}
_GRADS = {name: elementwise(getattr(rules, f"{name}_grad"), arrays=2, scalars=1)
          for name in ("mse", "l1", "bce", "bce_with_logits")}
_outside_unit_interval = summed(rules.outside_unit_interval, arrays=1)


def _mean(rule: str, prediction, target) -> float:
    return _SUMS[rule](prediction.ravel(), target.ravel()) / prediction.size


def _gradient(rule: str, grad_output: float, prediction, target):
    grad_input = empty_like(prediction)
    _GRADS[rule](prediction.ravel(), target.ravel(), grad_output / prediction.size, grad_input.ravel())
    return grad_input


def count_outside_unit_interval_cuda(values) -> int:
    """How many elements of ``values`` are not in [0, 1] (NaN included): BCE's input check on the GPU."""
    return int(_outside_unit_interval(values.ravel()))


def mse_loss_forward_cuda(prediction, target) -> float:
    """CUDA tier of ``mse_loss_forward_reference``."""
    return _mean("mse", prediction, target)


def mse_loss_backward_cuda(grad_output: float, prediction, target):
    """CUDA tier of ``mse_loss_backward_reference``."""
    return _gradient("mse", grad_output, prediction, target)


def l1_loss_forward_cuda(prediction, target) -> float:
    """CUDA tier of ``l1_loss_forward_reference``."""
    return _mean("l1", prediction, target)


def l1_loss_backward_cuda(grad_output: float, prediction, target):
    """CUDA tier of ``l1_loss_backward_reference``."""
    return _gradient("l1", grad_output, prediction, target)


def bce_loss_forward_cuda(prediction, target) -> float:
    """CUDA tier of ``bce_loss_forward_reference``."""
    return _mean("bce", prediction, target)


def bce_loss_backward_cuda(grad_output: float, prediction, target):
    """CUDA tier of ``bce_loss_backward_reference``."""
    return _gradient("bce", grad_output, prediction, target)


def bce_with_logits_loss_forward_cuda(logits, target) -> float:
    """CUDA tier of ``bce_with_logits_loss_forward_reference``."""
    return _mean("bce_with_logits", logits, target)


def bce_with_logits_loss_backward_cuda(grad_output: float, logits, target):
    """CUDA tier of ``bce_with_logits_loss_backward_reference``."""
    return _gradient("bce_with_logits", grad_output, logits, target)
