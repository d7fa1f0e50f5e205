"""Optimizers: ``SGD`` (with momentum) and ``Adam``, with PyTorch's update rules.

An optimizer holds a list of :class:`~tinysr.nn.module.Parameter` objects. After the backward
pass has accumulated dL/d(data) into every ``.grad``, ``step()`` moves every ``.data`` a little
against its gradient, and ``zero_grad()`` clears the gradients for the next batch::

    optimizer = Adam(model.parameters(), lr=1e-3)
    for x, y in batches:
        optimizer.zero_grad()
        loss = criterion(model.forward(x), y)
        model.backward(criterion.backward())
        optimizer.step()

``step`` changes ``.data`` **in place** (other code, such as a layer's cache, may hold the
array) and reads ``.grad`` without changing it. Only ``zero_grad`` writes to ``.grad``.

The update of one parameter is an op with three tiers of one signature, like every op in tinysr,
in ``tinysr/ops/optim.py`` (the rules and the NumPy reference), ``tinysr/ops/cpu/optim.py``
(Numba) and ``tinysr/ops/cuda/optim.py`` (GPU): ``sgd_step_<tier>`` and ``adam_step_<tier>``.
Parameters on the GPU (``model.to("cuda")``) are updated by the CUDA tier, and their state
(moments, momentum) lives on the GPU too.

How close to PyTorch (checked against torch 2.13 on CPU): the formulas, the order of the
operations and every convention below are PyTorch's; the results agree to ~1e-15 relative in
float64 but not always to the last bit, because PyTorch's vectorised CPU kernels fuse
multiply-adds (``lerp``, ``addcmul``) and its vectorised ``sqrt`` on float64 is not always
correctly rounded.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

from tinysr.device import device_of, is_device_array, to_device, zeros_like
from tinysr.nn.module import Parameter
from tinysr.ops.cpu.optim import adam_step_numba, sgd_step_numba
from tinysr.ops.optim import adam_step_reference, sgd_step_reference
from tinysr.tiers import check_backend, choose_tier, tier_function

__all__ = [
    "SGD",
    "Adam",
    "Optimizer",
    "adam_step_numba",
    "adam_step_reference",
    "sgd_step_numba",
    "sgd_step_reference",
]


# --------------------------------------------------------------------------- argument checks


def _check_real(value, *, name: str, optimizer: str, low: float = 0.0, below: float | None = None) -> float:
    """Return ``value`` as a float if ``low <= value`` (and ``value < below``), else raise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{optimizer}: expected {name} to be a real number, got {value!r}")
    value = float(value)
    # written as "not (ok)" so that NaN is refused too
    if below is None and not low <= value:
        raise ValueError(f"{optimizer}: invalid {name}={value!r}, expected {name} >= {low}")
    if below is not None and not low <= value < below:
        raise ValueError(f"{optimizer}: invalid {name}={value!r}, expected {low} <= {name} < {below}")
    return value


# --------------------------------------------------------------------------- optimizers


def _host_copy(value):
    """A NumPy copy of a host or device array; anything else (the step count) as it is."""
    if is_device_array(value):
        return value.copy_to_host()
    return value.copy() if isinstance(value, np.ndarray) else value


class Optimizer:
    """Base class: holds the parameters and their per-parameter state, clears gradients.

    ``self.state[i]`` is the state of ``self.params[i]`` (a dict of a step count and arrays),
    created at that parameter's first ``step``. Subclasses list their hyperparameters in
    ``_hyperparameter_names``, check them in ``_check_hyperparameters`` and implement ``step``.
    """

    _hyperparameter_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Parameter], *, backend: str | None = None):
        name = type(self).__name__
        if isinstance(params, (Parameter, np.ndarray)) or not isinstance(params, Iterable):
            raise TypeError(
                f"{name}: expected an iterable of Parameters such as model.parameters(), "
                f"got {type(params).__name__}"
            )
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list; there is nothing to optimize")
        for i, p in enumerate(params):
            if not isinstance(p, Parameter):
                raise TypeError(f"{name}: expected Parameter objects, got {type(p).__name__} at position {i}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter appears more than once; it would be updated twice a step")
        self.params = params
        self.backend = check_backend(backend, name)
        self.state: dict[int, dict] = {}

    # -- the protocol ----------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to zero (in place)."""
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        """Update every parameter from its ``.grad`` (each optimizer defines the rule)."""
        raise NotImplementedError(f"{type(self).__name__} must implement step()")

    def _check_hyperparameters(self, **hyperparameters) -> dict:
        raise NotImplementedError

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Copies of everything ``step`` depends on, laid out as in PyTorch::

            {"state": {0: {"step": 3, "exp_avg": array, ...}, ...},
             "param_groups": [{"lr": 0.001, ..., "params": [0, 1, ...]}]}

        Loading it into an optimizer over the same parameters continues bit for bit. The arrays
        are NumPy copies, also for parameters on the GPU (their state moves back there at the
        next ``step``).
        """
        state = {
            i: {key: _host_copy(value) for key, value in s.items()}
            for i, s in self.state.items()
        }
        group = {name: getattr(self, name) for name in self._hyperparameter_names}
        group["params"] = list(range(len(self.params)))
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and per-parameter state saved by :meth:`state_dict` (copied)."""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            sizes = [len(g["params"]) for g in groups]
            raise ValueError(
                f"{name}.load_state_dict: expected one parameter group of {len(self.params)} parameters, "
                f"got groups of sizes {sizes}"
            )
        hyperparameters = self._check_hyperparameters(
            **{key: groups[0][key] for key in self._hyperparameter_names}
        )
        state = {}
        for i, saved in state_dict["state"].items():
            i = int(i)
            if not 0 <= i < len(self.params):
                raise ValueError(
                    f"{name}.load_state_dict: state for parameter {i}, but there are {len(self.params)}"
                )
            data = self.params[i].data
            state[i] = {}
            for key, value in saved.items():
                if isinstance(value, np.ndarray):
                    if value.shape != data.shape or value.dtype != data.dtype:
                        raise ValueError(
                            f"{name}.load_state_dict: expected {key} of parameter {i} with shape "
                            f"{data.shape} and dtype {data.dtype}, "
                            f"got shape {value.shape} and dtype {value.dtype}"
                        )
                    value = np.array(value, copy=True, order="C")
                state[i][key] = value
        for key, value in hyperparameters.items():
            setattr(self, key, value)
        self.state = state

    # -- helpers for subclasses ------------------------------------------------------------
    def _prepare(self, i: int, p: Parameter, buffers: tuple[str, ...]) -> dict:
        """Check ``p`` before an update and return its state, created at the first step on ``p``'s device."""
        name = type(self).__name__
        data = p.data
        on_gpu = is_device_array(data)
        if not (isinstance(data, np.ndarray) or on_gpu) or data.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name}: parameter {i} must hold a float32 or float64 array, got {data!r}")
        if not (data.is_c_contiguous() if on_gpu else data.flags.c_contiguous):
            raise ValueError(f"{name}: parameter {i}'s data must be C-contiguous to be updated in place")
        if tuple(p.grad.shape) != tuple(data.shape) or p.grad.dtype != data.dtype:
            raise ValueError(
                f"{name}: parameter {i} has data of shape {data.shape} and dtype {data.dtype} but grad of "
                f"shape {p.grad.shape} and dtype {p.grad.dtype}"
            )
        if device_of(p.grad) != device_of(data):
            raise ValueError(f"{name}: parameter {i} has data on {device_of(data)} but grad on {device_of(p.grad)}")
        state = self.state.get(i)
        if state is None:
            state = {"step": 0, **{key: zeros_like(data) for key in buffers}}
            self.state[i] = state
        for key in buffers:
            if tuple(state[key].shape) != tuple(data.shape) or state[key].dtype != data.dtype:
                raise TypeError(
                    f"{name}: parameter {i} is now {data.dtype} {data.shape} but its {key} is "
                    f"{state[key].dtype} {state[key].shape}; convert a model before building its optimizer"
                )
            if device_of(state[key]) != device_of(data):  # e.g. loaded from a checkpoint, or after model.to()
                state[key] = to_device(state[key], device_of(data))
        return state

    def _tier(self, p: Parameter) -> str:
        """The tier that updates ``p``: the optimizer's backend, else ``tinysr.tier``'s, else the fastest for it."""
        return choose_tier(p.data, self.backend, type(self).__name__)

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={getattr(self, key)!r}" for key in self._hyperparameter_names)
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay (PyTorch's rule).

    Per step, for every parameter (see :func:`sgd_step_reference`)::

        g = grad + weight_decay * param;  buf = g (first step) or momentum * buf + g;  param -= lr * buf

    State per parameter: ``"step"`` and ``"momentum_buffer"`` (allocated even when momentum is 0).
    """

    _hyperparameter_names = ("lr", "momentum", "weight_decay")

    def __init__(self, params: Iterable[Parameter], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0, *, backend: str | None = None):
        super().__init__(params, backend=backend)
        checked = self._check_hyperparameters(lr=lr, momentum=momentum, weight_decay=weight_decay)
        for key, value in checked.items():
            setattr(self, key, value)

    def _check_hyperparameters(self, *, lr, momentum, weight_decay) -> dict:
        return {
            "lr": _check_real(lr, name="lr", optimizer="SGD"),
            "momentum": _check_real(momentum, name="momentum", optimizer="SGD"),
            "weight_decay": _check_real(weight_decay, name="weight_decay", optimizer="SGD"),
        }

    def step(self) -> None:
        """One SGD update of every parameter from its ``.grad`` (the rule is ``tinysr/ops/optim.py``)."""
        for i, p in enumerate(self.params):
            state = self._prepare(i, p, ("momentum_buffer",))
            state["step"] += 1
            update = tier_function(self._tier(p), "optim", "sgd_step")
            update(p.data, p.grad, state["momentum_buffer"], state["step"],
                   self.lr, self.momentum, self.weight_decay)


class Adam(Optimizer):
    """Adam with PyTorch's defaults and rule (L2 ``weight_decay`` added to the gradient, not AdamW).

    Per step, for every parameter (see :func:`adam_step_reference`)::

        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
        param -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    State per parameter: ``"step"`` (t), ``"exp_avg"`` (m) and ``"exp_avg_sq"`` (v).
    """

    _hyperparameter_names = ("lr", "betas", "eps", "weight_decay")

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 *, backend: str | None = None):
        super().__init__(params, backend=backend)
        checked = self._check_hyperparameters(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        for key, value in checked.items():
            setattr(self, key, value)

    def _check_hyperparameters(self, *, lr, betas, eps, weight_decay) -> dict:
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Adam: expected betas to be a pair (beta1, beta2), got {betas!r}")
        return {
            "lr": _check_real(lr, name="lr", optimizer="Adam"),
            "betas": (
                _check_real(betas[0], name="betas[0]", optimizer="Adam", below=1.0),
                _check_real(betas[1], name="betas[1]", optimizer="Adam", below=1.0),
            ),
            "eps": _check_real(eps, name="eps", optimizer="Adam"),
            "weight_decay": _check_real(weight_decay, name="weight_decay", optimizer="Adam"),
        }

    def step(self) -> None:
        """One Adam update of every parameter from its ``.grad`` (the rule is ``tinysr/ops/optim.py``)."""
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            state = self._prepare(i, p, ("exp_avg", "exp_avg_sq"))
            state["step"] += 1
            update = tier_function(self._tier(p), "optim", "adam_step")
            update(p.data, p.grad, state["exp_avg"], state["exp_avg_sq"], state["step"],
                   self.lr, beta1, beta2, self.eps, self.weight_decay)
