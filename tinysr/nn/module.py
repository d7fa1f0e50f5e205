"""The whole module protocol: ``Parameter``, ``Module`` and ``Sequential``.

There is no autograd. A module is a plain class with two methods:

* ``forward(x)`` computes the output and keeps (caches) whatever ``backward`` will need;
* ``backward(grad_output)`` receives dL/d(output), returns dL/d(input) and *adds* dL/d(parameter)
  into every parameter's ``.grad``. It never changes ``.data``: only an optimizer does.

Chaining modules is the chain rule written out by hand: ``Sequential.backward`` calls each
child's ``backward`` in reverse order, passing the gradient along.

``module.to("cuda")`` moves every parameter, gradient and floating-point buffer to the GPU (as
numba.cuda device arrays); the ops then run their numba.cuda kernels (see ``tinysr.device``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tinysr.device import add_into, check_device, device_of, fill, is_device_array, to_device, zeros_like


class Parameter:
    """A trainable array: ``data`` holds the values, ``grad`` accumulates dL/d(data).

    ``grad`` has the shape and dtype of ``data`` and starts at zero; ``backward`` adds into it
    (``accumulate_grad``) and ``optimizer.zero_grad()`` clears it. Both live on one device: host
    memory (NumPy arrays) or the GPU (numba.cuda device arrays, after ``Module.to("cuda")``).
    """

    def __init__(self, data: np.ndarray):
        self.data = data if is_device_array(data) else np.ascontiguousarray(data)
        self.grad = zeros_like(self.data)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``data``."""
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        """The dtype of ``data`` (``grad`` has the same)."""
        return self.data.dtype

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"cuda"``: where ``data`` and ``grad`` are."""
        return device_of(self.data)

    def zero_grad(self) -> None:
        """Set ``grad`` to zeros (in place, on the parameter's device)."""
        fill(self.grad, 0)

    def accumulate_grad(self, gradient) -> None:
        """``grad += gradient`` (in place, on the parameter's device): how ``backward`` hands in dL/d(data)."""
        add_into(self.grad, gradient)

    def __repr__(self) -> str:
        where = ", device='cuda'" if is_device_array(self.data) else ""
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}{where})"


class Module:
    """Base class of every layer and network.

    Subclasses set parameters (``Parameter``), buffers (plain arrays listed in ``_buffers``,
    such as BatchNorm's running statistics) and child modules as attributes in ``__init__``,
    and implement ``forward`` and ``backward``. Parameters and children are found by looking
    at the instance's attributes in the order they were assigned, exactly as in PyTorch.
    """

    #: names of array attributes that are state but not trainable (saved by ``state_dict``)
    _buffers: tuple[str, ...] = ()

    training: bool = True

    # -- the protocol ----------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """The layer's output for ``x``; keeps what ``backward`` needs. Every layer defines it."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x)")

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``dL/dx`` from ``dL/dout`` (shaped like the output); adds to each parameter's ``.grad``."""
        raise NotImplementedError(f"{type(self).__name__} must implement backward(grad_output)")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    # -- walking the tree ------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct child modules as ``(attribute name, module)``."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> Iterator[Module]:
        """Direct child modules."""
        for _, child in self.named_children():
            yield child

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter of this module and its children, as ``("0.weight", Parameter)``."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value.named_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        """Every ``Parameter`` of this module and its sub-modules, in a fixed order."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """``(name, array)`` of every buffer (e.g. BatchNorm's running statistics), dotted names."""
        for name in self._buffers:
            yield prefix + name, getattr(self, name)
        for child_name, child in self.named_children():
            yield from child.named_buffers(prefix + child_name + ".")

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to zeros."""
        for p in self.parameters():
            p.zero_grad()

    # -- modes -----------------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (BatchNorm uses batch statistics and updates its running ones)."""
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (BatchNorm uses its running statistics); same as ``train(False)``."""
        return self.train(False)

    # -- dtype -----------------------------------------------------------------------------
    def astype(self, dtype) -> Module:
        """Convert every parameter and floating-point buffer to ``dtype`` (float32 or float64) in place.

        The ``Parameter`` objects stay the same (so an optimizer built earlier still holds them);
        their ``data`` is converted, gradients are reset to zero and forward caches are dropped.
        Arrays stay on their device (on the GPU the conversion goes through the host once).
        Returns ``self``.
        """
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"{type(self).__name__}.astype: expected float32 or float64, got {dtype}")

        def converted(array):
            return to_device(to_device(array, "cpu").astype(dtype), device_of(array))

        for module in self.modules():
            for name, value in list(vars(module).items()):
                if isinstance(value, Parameter):
                    value.data = converted(value.data)
                    value.grad = zeros_like(value.data)
                elif name in module._buffers and value.dtype.kind == "f":
                    setattr(module, name, converted(value))  # a fresh array: astype copies
            module._cache = None
        return self

    # -- device ----------------------------------------------------------------------------
    def to(self, device: str) -> Module:
        """Move every parameter, its gradient and every floating-point buffer to ``device``, in place.

        ``device`` is ``"cuda"`` (numba.cuda device arrays: forward, backward and the optimizer
        step then run on the GPU) or ``"cpu"`` (NumPy arrays). Like ``astype``, the ``Parameter``
        objects stay the same and forward caches are dropped. Integer buffers (BatchNorm's
        ``num_batches_tracked``, a counter) stay on the host. Raises ``tinysr.device.DeviceError``
        for ``"cuda"`` without a usable GPU. Returns ``self``.
        """
        check_device(device)
        for module in self.modules():
            for name, value in list(vars(module).items()):
                if isinstance(value, Parameter):
                    value.data = to_device(value.data, device)
                    value.grad = to_device(value.grad, device)
                elif name in module._buffers and value.dtype.kind == "f":
                    setattr(module, name, to_device(value, device))
            module._cache = None
        return self

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, depth first."""
        yield self
        for child in self.children():
            yield from child.modules()

    # -- saving and loading ----------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter's data and every buffer, keyed as in PyTorch; NumPy arrays on any device."""
        state = {name: _host_copy(p.data) for name, p in self.named_parameters()}
        state.update({name: _host_copy(b) for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays from ``state`` into this module; keys and shapes must match exactly."""
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise KeyError(
                f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        for name, current in own.items():
            value = state[name] if is_device_array(state[name]) else np.asarray(state[name])
            if tuple(value.shape) != current.shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: expected {name} of shape "
                    f"{current.shape}, got {value.shape}"
                )
        params = dict(self.named_parameters())
        for name in own:
            if name in params:
                _copy_into(params[name].data, state[name])
            else:
                *path, attr = name.split(".")
                owner = self
                for step in path:
                    owner = getattr(owner, step)
                _copy_into(getattr(owner, attr), state[name])

    # -- helpers for subclasses ------------------------------------------------------------
    def _require_cache(self):
        """Return the forward cache, or explain that backward came before forward."""
        cache = getattr(self, "_cache", None)
        if cache is None:
            raise RuntimeError(
                f"{self!r}: backward() was called before forward(); call forward(x) first so "
                "that the layer can cache what its gradient needs"
            )
        return cache

    def extra_repr(self) -> str:
        """What ``repr`` shows between the parentheses (empty by default)."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in children:
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        lines.append(")")
        return "\n".join(lines)


def _host_copy(array) -> np.ndarray:
    """A NumPy copy of a host or device array."""
    return array.copy_to_host() if is_device_array(array) else np.array(array, copy=True)


def _copy_into(target, values) -> None:
    """``target[...] = values`` (cast to target's dtype); either may be a host or a device array."""
    if is_device_array(values):
        values = values.copy_to_host()
    if is_device_array(target):
        target.copy_to_device(np.ascontiguousarray(values, dtype=target.dtype))
    else:
        target[...] = values


class Sequential(Module):
    """Modules applied one after another; backward runs them in reverse (the chain rule).

    ``Sequential(Conv2d(1, 8, 3), ReLU())`` names its children ``"0"``, ``"1"``, ... so that
    parameter names match PyTorch's (``"0.weight"``).
    """

    def __init__(self, *layers: Module):
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: expected Module instances, got {type(layer).__name__} at {i}")
            setattr(self, str(i), layer)

    def __len__(self) -> int:
        return sum(1 for _ in self.children())

    def __getitem__(self, index: int) -> Module:
        return list(self.children())[index]

    def __iter__(self) -> Iterator[Module]:
        return self.children()

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Each layer's forward, in order."""
        for layer in self.children():
            x = layer.forward(x)
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """Each layer's backward, in reverse order."""
        for layer in reversed(list(self.children())):
            grad_output = layer.backward(grad_output)
        return grad_output
