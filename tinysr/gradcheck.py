"""Check a hand-written backward pass against finite differences.

Every gradient in tinysr is written by hand, so every gradient can be wrong. ``gradcheck``
is the test that catches it: it compares the gradient your ``backward`` returns (the
*analytic* gradient) with one measured by nudging each number a little and watching the
output move (the *numeric* gradient)::

    from tinysr.gradcheck import gradcheck

    report = gradcheck(layer, x)          # a Module, or any object with forward/backward
    print(report)                          # gradcheck passed: worst error 3.1e-10 ...

    gradcheck((lambda x, w, b: conv2d_forward(x, w, b, padding=1), conv2d_backward), x, w, b)

How it works
------------
1. Everything runs in float64: inputs are copied to float64, a module is deep-copied and its
   copy converted to float64 (your module is never touched).
2. The forward pass runs once to get ``out``. A scalar loss is built from it with a random
   upstream gradient ``g`` (seeded, standard normal, same shape as ``out``; drawn from a salted
   stream so that it never repeats an input you drew with ``np.random.default_rng(seed)``)::

       L = sum(out * g)        so that   dL/d(out) = g

   ``g`` is random, never all ones: with ``g = 1`` many wrong gradients look right. For
   batch normalisation in training mode, for example, the true input gradient of ``sum(out)``
   is exactly zero (the output is normalised, its sum does not move), so a broken backward that
   returns zeros would pass.
3. ``backward(g)`` gives the analytic gradients of the inputs (and, for modules, the
   parameters' ``.grad``, zeroed first).
4. For each checked element ``t[i]`` of each input and parameter, the central difference::

       numeric[i] = (L(t[i] + eps) - L(t[i] - eps)) / (2 * eps)
                  = sum((out(t[i] + eps) - out(t[i] - eps)) * g) / (2 * eps)

   The second form (differences of outputs first, then the sum) avoids subtracting two large,
   almost equal sums: outputs that do not depend on ``t[i]`` cancel exactly. The element is
   restored after each nudge. Small tensors are checked at every element; tensors with more
   than ``max_checks_per_tensor`` elements at a random (seeded) sample of that many.

The error measure
-----------------
For each checked element, with ``a`` analytic and ``n`` numeric, and ``G`` the largest ``|n|``
among all elements checked (every tensor)::

    error = |a - n| / max(|a|, |n|, floor)        floor = atol * max(1, G)

and the check passes when the largest error is ``<= rtol`` (defaults ``rtol = 1e-6``,
``atol = 1e-2``). Where a gradient is large this is the plain relative error
``|a - n| / max(|a|, |n|)``, blind to the scale of the layer. The floor is needed because the
relative error alone is meaningless where the true gradient is about zero: there ``n`` is pure
round-off, of size ``~1e-16 * |out| / eps``, that is ``1e-10 .. 1e-8`` for outputs of size
1 .. 50, and ``1e-9 / 1e-10`` would be reported as a 1000 % error. Round-off comes from the
forward pass and follows the scale of the whole computation, not the gradient of one element,
so the floor is tied to the largest gradient of the check ``G`` (outputs and gradients grow
together) and never drops below ``atol`` (a loss averaged over many pixels has tiny gradients,
but also round-off of only ``~1e-11``). Below the floor an element is judged by its absolute
error: it fails when ``|a - n| > rtol * atol * max(1, G)``, that is ``1e-8`` when the gradients
are of order one. Measured on correct float64 layers (linear layers up to 300 -> 200, tanh
MLPs, batch norm, MSE over 10^4 pixels, inputs of order 1 and in 0..255) the worst error is
``1e-9 .. 6e-8``, well below ``rtol``; a real bug (a sign, a factor 2, a missing term, a wrong
index) is wrong by something of the size of the gradient itself and gives errors of
``1e-3 .. 2``. Should a correct layer ever fail by a hair on elements with tiny gradients (huge
outputs, long sums), rescale its inputs to order one or raise ``atol``.

Failures raise ``GradcheckError`` (an ``AssertionError``, so a test fails) whose message names
the tensor (``"input 0"``, ``"weight"``, ``"1.bias"``), the index, the two values and a hint:
``analytic == -numeric`` is a sign error, a constant ratio of 2 a factor-2 error, an analytic
gradient of zero everywhere a backward that never wrote to ``.grad``.
"""

from __future__ import annotations

import copy

import numpy as np

from tinysr.gradcheck_report import GradcheckError, GradcheckReport, TensorCheck, compare

__all__ = ["GradcheckError", "GradcheckReport", "TensorCheck", "gradcheck"]


_SALT = 0x6772616463686B  # "gradchk"


# ---------------------------------------------------------------------------------------------
# the public function
# ---------------------------------------------------------------------------------------------
def gradcheck(
    target,
    *inputs,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-2,
    max_checks_per_tensor: int = 200,
    seed: int = 0,
    check_params: bool = True,
    raise_on_failure: bool = True,
) -> GradcheckReport:
    """Compare ``target``'s backward pass with central finite differences, in float64.

    Parameters
    ----------
    target
        Either an object with ``forward(*inputs) -> out`` and ``backward(grad_output)`` (a
        ``Module``, or your own class); ``backward`` returns the input gradient, or a tuple of
        gradients when there are several inputs, and adds parameter gradients into ``.grad``
        of the parameters listed by ``named_parameters()`` (if the object has that method).
        Or a pair of op functions ``(forward_op, backward_op)`` following the op contract:
        ``forward_op(*inputs) -> (out, cache)`` and ``backward_op(grad_output, cache)`` returns
        a gradient or a tuple of gradients in the order of ``inputs`` (trailing ``None`` entries,
        such as the gradient of an absent bias, are allowed).
    *inputs
        Floating-point NumPy arrays (copied to float64; yours are never changed). ``None`` is
        passed through unchecked, for optional arguments such as ``bias=None``.
    eps
        Step of the central difference ``(L(t + eps) - L(t - eps)) / (2 eps)``.
    rtol, atol
        Pass when every ``|a - n| / max(|a|, |n|, atol * max(1, G)) <= rtol``, ``G`` the largest
        numeric gradient of the check (the module docstring says why the floor is needed and
        how the defaults were chosen).
    max_checks_per_tensor
        Tensors with at most this many elements are checked everywhere; larger ones at a random
        sample of this many elements.
    seed
        Seeds the upstream gradient and the sample, so a report is reproducible. (The stream is
        salted, so it never repeats arrays you drew with ``np.random.default_rng(seed)``.)
    check_params
        Also check the parameters of a module-like target (their ``.data`` is nudged).
    raise_on_failure
        Raise ``GradcheckError`` on a mismatch (default); otherwise return the failing report.

    Returns
    -------
    GradcheckReport
        ``passed``, ``max_error``, and per tensor the worst element, its index and both values.

    Raises
    ------
    GradcheckError
        The gradients disagree, or backward returned a gradient of the wrong shape or count.
    TypeError
        An input is not a floating-point array, or forward does not return float64.
    ValueError
        An input or parameter contains NaN or inf, or a setting is out of range.
    """
    if not eps > 0 or not rtol > 0 or not atol > 0:
        raise ValueError(f"gradcheck: expected eps, rtol and atol > 0, got {eps}, {rtol}, {atol}")
    if isinstance(max_checks_per_tensor, bool) or int(max_checks_per_tensor) < 1:
        raise ValueError(f"gradcheck: expected max_checks_per_tensor >= 1, got {max_checks_per_tensor!r}")
    inputs64 = [_as_float64_input(x, i) for i, x in enumerate(inputs)]
    # a stream of its own (seed plus a fixed salt): the upstream gradient must not repeat an input
    # the user drew with default_rng(seed), or it could be parallel to the output by accident
    rng = np.random.default_rng([seed, _SALT])

    if isinstance(target, (tuple, list)):
        runner = _OpPairRunner(target)
    elif hasattr(target, "forward") and hasattr(target, "backward"):
        runner = _ModuleRunner(target, check_params=check_params)
    else:
        raise TypeError(
            "gradcheck: expected target to be an object with forward() and backward() or a pair "
            f"(forward_op, backward_op), got {type(target).__name__}"
        )

    # -- analytic gradients: one forward, one backward with a random upstream gradient --------
    saved_inputs = [None if x is None else x.copy() for x in inputs64]
    out = runner.forward(inputs64)
    for i, (x, saved) in enumerate(zip(inputs64, saved_inputs)):
        if x is not None and not np.array_equal(x, saved):
            raise GradcheckError(
                f"gradcheck: forward changed input {i} in place; a layer must not mutate its input "
                "(copy it first), or finite differences cannot work"
            )
    grad_output = rng.standard_normal(out.shape)
    analytic = runner.analytic_gradients(grad_output, inputs64)

    # -- numeric gradients, one tensor at a time -------------------------------------------
    measured = []
    for name, tensor, grad in runner.tensors(inputs64, analytic):
        chosen = _choose_elements(tensor.size, int(max_checks_per_tensor), rng)
        numeric = np.empty(len(chosen))
        flat = tensor.reshape(-1)  # a view: writing into it nudges the tensor forward reads
        for k, i in enumerate(chosen):
            original = flat[i]
            flat[i] = original + eps
            out_plus = runner.forward(inputs64)
            flat[i] = original - eps
            out_minus = runner.forward(inputs64)
            flat[i] = original
            numeric[k] = np.sum((out_plus - out_minus) * grad_output) / (2.0 * eps)
        measured.append((name, tensor.shape, chosen, grad.reshape(-1)[chosen], numeric))

    # round-off in the numeric gradients follows the scale of the whole computation (see the
    # module docstring): the floor of the error measure is tied to the largest gradient found
    largest = max((float(np.max(np.abs(n), initial=0.0, where=np.isfinite(n))) for *_, n in measured), default=0.0)
    floor = atol * max(1.0, largest)
    checks = [compare(*m, rtol, floor) for m in measured]

    max_error = max((t.max_error for t in checks), default=0.0)
    report = GradcheckReport(
        passed=all(t.passed for t in checks), max_error=max_error, tensors=checks,
        eps=eps, rtol=rtol, atol=atol, seed=seed, floor=floor,
    )
    if not report.passed and raise_on_failure:
        raise GradcheckError(report.failure_message())
    return report


# ---------------------------------------------------------------------------------------------
# the two kinds of target
# ---------------------------------------------------------------------------------------------
class _OpPairRunner:
    """``(forward_op, backward_op)``: the cache travels from forward to backward explicitly."""

    def __init__(self, pair):
        if len(pair) != 2 or not all(callable(f) for f in pair):
            raise TypeError("gradcheck: expected a pair (forward_op, backward_op) of functions")
        self.forward_op, self.backward_op = pair
        self._cache = None

    def forward(self, inputs):
        result = self.forward_op(*inputs)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(
                "gradcheck: forward_op must return (out, cache) as in the op contract, "
                f"got {type(result).__name__}"
            )
        out, self._cache = result
        return _check_output(out)

    def analytic_gradients(self, grad_output, inputs):
        grads = self.backward_op(grad_output.copy(), self._cache)
        return _align_input_grads(grads, inputs)

    def tensors(self, inputs, grads):
        for i, (x, g) in enumerate(zip(inputs, grads)):
            if x is not None:
                yield f"input {i}", x, g


class _ModuleRunner:
    """An object with ``forward``/``backward``, run on a float64 deep copy (yours stays as it was)."""

    def __init__(self, target, *, check_params: bool):
        self.module = copy.deepcopy(target)
        self.params = _named_parameters(self.module) if check_params else []
        if hasattr(self.module, "astype"):
            self.module.astype(np.float64)
        else:
            for _, p in _named_parameters(self.module):
                p.data = np.array(p.data, dtype=np.float64)
        for _, p in _named_parameters(self.module):
            if not p.data.flags.c_contiguous:  # nudging goes through a flat view of .data
                p.data = np.ascontiguousarray(p.data)
        for name, p in self.params:
            _check_finite(p.data, f"parameter {name}")
        # BatchNorm in training mode updates its running statistics on every forward. Those
        # statistics do not enter the training-mode output, but to be sure every forward sees
        # the same module, the buffers are put back before each call.
        self._buffers = _snapshot_buffers(self.module)

    def forward(self, inputs):
        _restore_buffers(self.module, self._buffers)
        return _check_output(self.module.forward(*inputs))

    def analytic_gradients(self, grad_output, inputs):
        for _, p in self.params:
            p.grad = np.zeros_like(p.data)
        grads = self.module.backward(grad_output.copy())
        input_grads = _align_input_grads(grads, inputs)
        param_grads = []
        for name, p in self.params:
            g = p.grad
            if g is None:
                g = np.zeros_like(p.data)
            g = np.asarray(g, dtype=np.float64)
            if g.shape != p.data.shape:
                raise GradcheckError(
                    f"gradcheck: after backward, {name}.grad has shape {g.shape} but {name} has shape "
                    f"{p.data.shape}; a parameter's gradient must have its parameter's shape"
                )
            param_grads.append(g.copy())
        return input_grads + param_grads

    def tensors(self, inputs, grads):
        named = [(f"input {i}", x) for i, x in enumerate(inputs)]
        named += [(name, p.data) for name, p in self.params]
        for (name, x), g in zip(named, grads):
            if x is not None:
                yield name, x, g


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _as_float64_input(x, index: int):
    if x is None:
        return None
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"gradcheck: expected input {index} to be a numpy.ndarray of floats, got {type(x).__name__}"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"gradcheck: expected input {index} with a floating-point dtype, got {x.dtype} "
            "(gradients are only defined for real-valued float inputs)"
        )
    _check_finite(x, f"input {index}")
    return np.array(x, dtype=np.float64, copy=True)


def _check_finite(x: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"gradcheck: {name} contains NaN or inf ({int(bad.sum())} elements, first at index {where}); "
            "finite differences need finite values"
        )


def _check_output(out) -> np.ndarray:
    out = np.asarray(out)
    if out.dtype != np.float64:
        raise TypeError(
            f"gradcheck: forward returned dtype {out.dtype} for float64 inputs; the whole check runs in "
            "float64 (finite differences in float32 are swamped by round-off), so forward must keep "
            "its input's dtype"
        )
    return out


def _named_parameters(module) -> list:
    if not hasattr(module, "named_parameters"):
        return []
    seen, params = set(), []
    for name, p in module.named_parameters():
        if id(p) not in seen:  # a parameter shared by two layers is one tensor
            seen.add(id(p))
            params.append((name, p))
    return params


def _snapshot_buffers(module) -> list:
    if not hasattr(module, "named_buffers"):
        return []
    return [(name, np.array(b, copy=True)) for name, b in module.named_buffers()]


def _restore_buffers(module, snapshot) -> None:
    for name, saved in snapshot:
        *path, attr = name.split(".")
        owner = module
        for step in path:
            owner = getattr(owner, step)
        setattr(owner, attr, saved.copy())


def _align_input_grads(grads, inputs) -> list:
    """Pair the gradients returned by backward with the inputs, checking count and shapes."""
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    grads = list(grads)
    if len(grads) > len(inputs) and all(g is None for g in grads[len(inputs):]):
        grads = grads[: len(inputs)]  # e.g. (grad_x, grad_w, None) for an op called without bias
    if len(grads) != len(inputs):
        raise GradcheckError(
            f"gradcheck: backward returned {len(grads)} gradient(s) for {len(inputs)} input(s); "
            "return one gradient per input, in the order of the inputs"
        )
    aligned = []
    for i, (g, x) in enumerate(zip(grads, inputs)):
        if x is None:
            aligned.append(None)
            continue
        if g is None:
            raise GradcheckError(f"gradcheck: backward returned None as the gradient of input {i}")
        g = np.asarray(g)
        if g.shape != x.shape:
            raise GradcheckError(
                f"gradcheck: backward returned a gradient of shape {g.shape} for input {i} of shape "
                f"{x.shape}; dL/dx must have the shape of x"
            )
        aligned.append(np.array(g, dtype=np.float64, copy=True))
    return aligned


def _choose_elements(size: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Every flat index if the tensor is small, else a sorted random sample of ``limit`` of them."""
    if size <= limit:
        return np.arange(size)
    return np.sort(rng.choice(size, size=limit, replace=False))
