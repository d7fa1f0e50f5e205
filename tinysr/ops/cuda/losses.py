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



def _tier(op: str, rule: str):
    """The CUDA tier of one loss: ``(NAME_forward_cuda, NAME_backward_cuda)`` from its two rules."""

    def forward(prediction, target) -> float:
        return _mean(rule, prediction, target)

    def backward(grad_output: float, prediction, target):
        return _gradient(rule, grad_output, prediction, target)

    forward.__name__, backward.__name__ = f"{op}_forward_cuda", f"{op}_backward_cuda"
    forward.__doc__ = f"CUDA tier of ``{op}_forward_reference``."
    backward.__doc__ = f"CUDA tier of ``{op}_backward_reference``."
    return forward, backward


mse_loss_forward_cuda, mse_loss_backward_cuda = _tier("mse_loss", "mse")
l1_loss_forward_cuda, l1_loss_backward_cuda = _tier("l1_loss", "l1")
bce_loss_forward_cuda, bce_loss_backward_cuda = _tier("bce_loss", "bce")
bce_with_logits_loss_forward_cuda, bce_with_logits_loss_backward_cuda = _tier("bce_with_logits_loss", "bce_with_logits")
