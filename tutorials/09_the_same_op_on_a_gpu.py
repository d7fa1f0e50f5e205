# %% [markdown]
# # Tutorial 9: the same op on a GPU
#
# Every op of tinysr has a CPU tier (`tinysr/ops/NAME.py`: NumPy, and Numba loops) and a GPU tier
# (`tinysr/ops/cuda/NAME.py`: kernels written with `numba.cuda`). The GPU tier computes the same
# numbers; only the way the work is split up differs. This tutorial reads them side by side:
#
# 1. how a CPU loop becomes a CUDA launch: threads, blocks, the grid, and a grid-stride loop;
# 2. PReLU, an elementwise op: the Numba loop and the CUDA kernel, line by line;
# 3. a reduction: PReLU's slope gradient, a sum over a whole channel, done by a block of threads
#    in shared memory with a tree;
# 4. the convolution as a matrix product computed in tiles held in shared memory;
# 5. a whole (tiny) network moved to the GPU with `model.to("cuda")`, and one training step that
#    equals the CPU's.
#
# **No GPU?** Then everything runs on numba's *CUDA simulator*, which executes every CUDA thread
# as a Python thread on the CPU: the same kernels, the same results, only very slowly, so the
# shapes here are tiny. The simulator has to be switched on (`NUMBA_ENABLE_CUDASIM=1`) before
# numba is imported, and `import tinysr` imports numba, so the first cell decides before importing
# anything: numba-cuda installed and `nvidia-smi` listing a GPU means the GPU; anything else, the
# simulator (unless you set `NUMBA_ENABLE_CUDASIM` yourself).
#
# Figures go to `tutorial_output/09/` under the current folder, or to `$TINYSR_TUTORIAL_OUT/09/`.

# %%
# ruff: noqa: E402  (this cell must run before numba is imported: the imports below come after it)
import importlib.util
import os
import shutil
import subprocess
import sys


def nvidia_gpu_present() -> bool:
    """True when numba-cuda is installed and ``nvidia-smi -L`` lists a GPU (no numba import needed)."""
    if importlib.util.find_spec("numba_cuda") is None:
        return False
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


if "numba" in sys.modules:  # e.g. a notebook kernel that already ran something else
    print("note: numba is already imported in this Python process, so NUMBA_ENABLE_CUDASIM can no longer "
          "change; restart the kernel to let this cell choose")
elif not nvidia_gpu_present():
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

# %%
import copy
import inspect
import textwrap
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from numba import config, cuda

import tinysr
from tinysr.device import check_device
from tinysr.losses import MSELoss
from tinysr.models import SRCNN
from tinysr.ops import activations, conv2d, prelu
from tinysr.ops.cpu import prelu as cpu_prelu
from tinysr.ops.cuda import _common, conv2d_tiles
from tinysr.ops.cuda import prelu as cuda_prelu
from tinysr.optim import Adam

SIMULATED = bool(config.ENABLE_CUDASIM)
check_device("cuda")  # raises DeviceError, with the reason, if "cuda" cannot be used
print("running on", "numba's CUDA simulator (no GPU)" if SIMULATED else f"the GPU: {cuda.get_current_device().name}")
if SIMULATED:
    # The simulator's threads wait for each other in a busy loop; a short GIL switch interval lets
    # them take turns quickly (several times faster; tests/cuda/conftest.py does the same).
    sys.setswitchinterval(1e-4)

OUT = Path(os.environ.get("TINYSR_TUTORIAL_OUT", "tutorial_output")) / "09"
OUT.mkdir(parents=True, exist_ok=True)
print(f"figures go to {OUT.resolve()}")


def save(fig, name):
    path = OUT / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"figure: {path}")


def show_source(kernel, label):
    """Print the Python source of a Numba CPU function or a numba.cuda kernel (both keep it in ``py_func``)."""
    function = getattr(kernel, "py_func", kernel)
    print(f"----- {label}: {function.__module__}.{function.__qualname__}")
    print(textwrap.dedent(inspect.getsource(function)))


def gpu(x):
    return tinysr.to_device(x, "cuda")


def host(x):
    return tinysr.to_device(x, "cpu")


# %% [markdown]
# ## 1. From a loop to a launch
#
# A Numba CPU kernel splits `for i in prange(n)` between a few cores. A CUDA kernel is the *body*
# of that loop, run by many threads at once. The launch `kernel[blocks, threads](arguments)`
# starts `blocks` *blocks* of `threads` threads each (together, the *grid*); inside the kernel,
# each thread knows who it is:
#
#     cuda.threadIdx.x     this thread's number within its block, 0 .. threads - 1
#     cuda.blockIdx.x      its block's number within the grid,    0 .. blocks - 1
#     cuda.grid(1)         = blockIdx.x * threads + threadIdx.x, its number in the whole grid
#     cuda.gridsize(1)     = blocks * threads, the number of threads in the grid
#
# tinysr's elementwise kernels keep the loop, as a **grid-stride loop**: thread `g` takes elements
# `g, g + G, g + 2G, ...` (`G` the grid size). With one thread per element (`G >= n`) each
# thread runs the body once; with a capped grid (huge arrays; the simulator) each takes several.
# Here is a kernel that only records which block and thread handled each element, launched both
# ways over 20 elements.

# %%
@cuda.jit
def record_owners(n, owner_block, owner_thread, visits):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        owner_block[i] = cuda.blockIdx.x
        owner_thread[i] = cuda.threadIdx.x
        visits[i] += 1  # one thread per element: no two threads ever touch the same cell


N_ELEMENTS, THREADS_DEMO = 20, 4
launches = {}
for n_blocks in (5, 2):
    arrays = [cuda.to_device(np.zeros(N_ELEMENTS, dtype=np.int32)) for _ in range(3)]
    record_owners[n_blocks, THREADS_DEMO](N_ELEMENTS, *arrays)
    block_of, thread_of, visits = (a.copy_to_host() for a in arrays)
    grid_size = n_blocks * THREADS_DEMO
    assert np.all(visits == 1)  # every element exactly once
    np.testing.assert_array_equal(block_of * THREADS_DEMO + thread_of, np.arange(N_ELEMENTS) % grid_size)
    launches[n_blocks] = (block_of, thread_of)
    print(f"[{n_blocks} blocks, {THREADS_DEMO} threads]: element -> (block, thread):",
          " ".join(f"{i}:({b},{t})" for i, (b, t) in enumerate(zip(block_of, thread_of))))

fig, axes = plt.subplots(2, 1, figsize=(12, 3.6))
for ax, (n_blocks, (block_of, thread_of)) in zip(axes, launches.items()):
    ax.imshow(block_of[None], cmap="Pastel1", vmin=0, vmax=8, aspect="auto")
    for i, (b, t) in enumerate(zip(block_of, thread_of)):
        ax.text(i, 0, f"b{b}\nt{t}", ha="center", va="center", fontsize=9)
    ax.set_yticks([])
    ax.set_xticks(range(N_ELEMENTS))
    ax.set_xlabel("element i of the array")
    grid_size = n_blocks * THREADS_DEMO
    how = "one element per thread" if grid_size >= N_ELEMENTS else f"each thread takes i, i + {grid_size}, ..."
    ax.set_title(f"record_owners[{n_blocks}, {THREADS_DEMO}]: {grid_size} threads for {N_ELEMENTS} elements, {how}",
                 fontsize=10)
fig.suptitle("Which block (b) and thread (t) handles each element of a grid-stride loop (colour: block)")
fig.tight_layout()
save(fig, "grid_stride_loop.png")

# %% [markdown]
# tinysr's kernels launch `blocks(n)` blocks of `THREADS` threads (`tinysr/ops/cuda/_common.py`):
# 256 threads per block on a GPU, enough blocks for one element each. Under the simulator blocks
# have 16 threads and there are at most 4 blocks, so the grid-stride loop does the rest.

# %%
print(f"THREADS = {_common.THREADS}, at most {_common.MAX_BLOCKS} blocks; blocks(20) = {_common.blocks(20)}, "
      f"blocks(10_000) = {_common.blocks(10_000)}")

# %% [markdown]
# ## 2. PReLU, side by side
#
# `out = x` where `x > 0`, else `a[c] * x`, with one slope `a[c]` per channel `c` (tutorial 4). The
# CPU kernel sees `x` as `(N, C, S)` planes (`S` = height * width) and gives each `(n, c)` plane to
# one `prange` iteration, which loops over the plane's pixels. The CUDA kernel gets the flat array
# and gives each *element* to one thread; a thread finds its channel from its index:
# `c = (i // S) % C`. Both call the same scalar rule, `leaky_relu(x, slope)`, written once beside the
# NumPy reference and compiled for each device (`numba.njit`, `cuda.jit(device=True)`).

# %%
show_source(activations.leaky_relu, "The rule, written once (tinysr/ops/activations.py)")
show_source(cpu_prelu._prelu_map, "CPU (Numba, prange over planes)")
show_source(cuda_prelu._prelu_forward_kernel, "GPU (numba.cuda, a thread per element)")

# %% [markdown]
# The public function `tinysr.ops.prelu.prelu_forward` looks at its input: a NumPy array runs
# the CPU tier, a numba.cuda *device array* runs the GPU tier, and the result stays on the GPU
# until we copy it back. The two agree element for element.

# %%
rng = np.random.default_rng(0)
for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1e-6)):
    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    slopes = np.array([0.25, -0.1, 0.6], dtype=dtype)
    out_cpu, cache_cpu = prelu.prelu_forward(x, slopes)
    out_gpu, cache_gpu = prelu.prelu_forward(gpu(x), gpu(slopes))
    assert tinysr.device.is_device_array(out_gpu)
    np.testing.assert_allclose(host(out_gpu), out_cpu, rtol=rtol)
    g = rng.standard_normal(x.shape).astype(dtype)
    grad_x_cpu, grad_slopes_cpu = prelu.prelu_backward(g, cache_cpu)
    grad_x_gpu, grad_slopes_gpu = prelu.prelu_backward(gpu(g), cache_gpu)
    np.testing.assert_allclose(host(grad_x_gpu), grad_x_cpu, rtol=rtol)
    np.testing.assert_allclose(host(grad_slopes_gpu), grad_slopes_cpu, rtol=rtol)
    print(f"{np.dtype(dtype).name}: PReLU forward and backward on the GPU equal the CPU's; "
          f"slope gradient {host(grad_slopes_gpu)}")

# %% [markdown]
# ## 3. A reduction: PReLU's slope gradient
#
# The slope gradient is a sum over every element of a channel: `dL/da[c] = sum g * min(x, 0)`.
# "One thread per element" does not work for a sum: thousands of threads adding into one cell at
# once is a race (and atomic additions would make the result depend on the order the threads
# happen to run in). The CPU kernel gives each `(n, c)` plane to one iteration, which keeps its
# own running sum in `partial[n, c]`; the plane sums are then added up. The GPU kernel gives each
# channel to one **block** (`blockIdx.x = c`): its threads take the channel's values in turn
# (thread `t`: values `t, t + THREADS, ...`), each keeps its own sum, and then the block adds its
# threads' sums with `block_sum`.

# %%
show_source(cpu_prelu._prelu_grad_map, "CPU: one running sum per (n, c) plane")
show_source(cuda_prelu._prelu_backward_kernel, "GPU: one block per channel")
show_source(_common.block_sum, "GPU: the sum over a block, in shared memory")

# %% [markdown]
# `block_sum` uses two things only threads of the same block have: **shared memory**
# (`cuda.shared.array`, a small, fast memory on the chip that all threads of a block see) and
# **`cuda.syncthreads()`**, a barrier that every thread of the block must reach before any goes on.
# Each thread writes its value into cell `t`; then, in `log2(THREADS)` steps, the lower half of the
# live cells adds the upper half (`cell t += cell t + stride`, `stride` halving each step), until
# cell 0 holds the total. The barrier after each step makes sure nobody reads a cell before it is
# written. The order of the additions is fixed, so the result is the same, bit for bit, on every
# run: we can predict it exactly by doing the same additions in NumPy. `tinysr.ops.cuda._common.
# sum_to_host` runs this in one block (`sum_kernel`) on 40 numbers:

# %%
values = rng.standard_normal(40)
total_gpu = _common.sum_to_host(gpu(values))
threads = _common.THREADS
per_thread = np.zeros(threads)
for t in range(threads):  # each thread's grid-stride sum, in the kernel's order
    for i in range(t, values.size, threads):
        per_thread[t] += values[i]
cells, tree = per_thread.copy(), [per_thread.copy()]
stride = threads // 2
while stride > 0:  # the tree of block_sum
    cells[:stride] += cells[stride: 2 * stride]
    tree.append(cells.copy())
    stride //= 2
print(f"sum on the GPU {total_gpu!r}, the same additions in NumPy {cells[0]!r}, np.sum {values.sum()!r}")
assert total_gpu == cells[0]  # bit for bit
assert abs(total_gpu - values.sum()) < 1e-12

shown = min(threads, 16)  # draw a 16-thread block (a GPU block has 256 threads: 8 steps instead of 4)
demo = np.arange(1, shown + 1, dtype=float)
steps_demo = [demo.copy()]
stride = shown // 2
while stride > 0:
    demo[:stride] += demo[stride: 2 * stride]
    steps_demo.append(demo.copy())
    stride //= 2
fig, ax = plt.subplots(figsize=(12, 4))
table = np.array(steps_demo)
live = np.array([[t < (shown >> s) for t in range(shown)] for s in range(len(steps_demo))])
ax.imshow(np.where(live, table, np.nan), cmap="viridis", aspect="auto")
for (s, t), value in np.ndenumerate(table):
    if live[s, t]:
        ax.text(t, s, f"{value:.0f}", ha="center", va="center", fontsize=10,
                color="black" if value > 0.6 * table.max() else "white")
ax.set_xticks(range(shown))
ax.set_yticks(range(len(steps_demo)),
              ["start: cell t = thread t's value", *(f"step {s}: t < {shown >> s} adds cell t + {shown >> s}"
                                                    for s in range(1, len(steps_demo)))])
ax.set_xlabel("shared-memory cell t (= thread t)")
ax.set_title(f"block_sum of 1, 2, ..., {shown} by {shown} threads: {len(steps_demo) - 1} steps, "
             "a syncthreads barrier after each; cell 0 ends with the total")
fig.tight_layout()
save(fig, "block_sum_tree.png")
assert table[-1, 0] == shown * (shown + 1) / 2

# %% [markdown]
# A BatchNorm layer does the same for its per-channel mean, variance and gradient sums
# (`tinysr/ops/cuda/batchnorm.py`): one block per channel, `block_sum`, float64 partial sums.
#
# ## 4. The convolution: a matrix product in tiles
#
# Tutorial 2 turned the convolution into one matrix product (im2col):
#
#     out[o, (n, i, j)] = sum over k = (c, u, v) of weight[o, k] * window[k, (n, i, j)]
#     window[(c, u, v), (n, i, j)] = xpad[n, c, i*stride + u, j*stride + v]
#
# rows `o` (`C_out`), columns `(n, i, j)` (`N H_out W_out`), and a *depth* `k` (`C_in kH kW`) that
# is summed over. The CPU's Numba tier hands such products to BLAS. A GPU kernel cannot call BLAS,
# so tinysr writes the product out, the way fast GPU matrix products are written:
#
# * each block computes one **tile** of the result, `rows x cols` outputs (`blockIdx.y` picks the
#   rows, `blockIdx.x` the columns): these are the independent loops;
# * the depth is walked `TK` (16) at a time. For each slice, the block's threads first copy the
#   `TK x rows` piece of the weights and the `TK x cols` piece of `window` into shared memory
#   (`a_tile`, `b_tile`), gathering `window` straight from `x`, zero padding included, without ever
#   building it (an "implicit GEMM"); `syncthreads`; then each thread multiply-adds its own few
#   outputs out of shared memory, keeping the sums in registers; `syncthreads` again before the
#   tiles are overwritten.
#
# The point of the tiles: every number read from the GPU's main memory is used `rows` or `cols`
# times from fast shared memory. A thread per output reading its own operands would read 2
# numbers per multiply-add; a tile reads `1/rows + 1/cols`. The kernel, and the part every thread
# runs on the tiles:

# %%
show_source(conv2d.conv2d_forward_reference, "CPU reference (NumPy): one einsum per kernel offset")
show_source(conv2d_tiles.WIDE.forward, "GPU: one tile of out per block")
show_source(inspect.getclosurevars(conv2d_tiles.WIDE.forward.py_func).nonlocals["multiply_tiles"],
            "GPU: each thread's multiply-adds out of shared memory")

gpu_tile = (64, 64)  # the WIDE tile on a GPU (tinysr/ops/cuda/conv2d_tiles.py); the simulator uses smaller ones
for name, (rows, cols) in (("this run's WIDE tile", (conv2d_tiles.WIDE.rows, conv2d_tiles.WIDE.cols)),
                           ("a GPU's WIDE tile", gpu_tile)):
    print(f"{name} {rows} x {cols}: {1 / rows + 1 / cols:.3f} reads from main memory per multiply-add "
          f"(a thread per output without tiles: 2, {2 / (1 / rows + 1 / cols):.0f} times more)")
c_in, c_out, n, hw = 64, 64, 16, 24  # one 3x3 convolution inside SRResNet, batch 16 of 24x24
print(f"SRResNet's 3x3 conv ({c_in} -> {c_out}, {n} x {hw}x{hw}): a {c_out} x {n * hw * hw} result with depth "
      f"{c_in * 9}: {-(-c_out // gpu_tile[0]) * -(-n * hw * hw // gpu_tile[1])} blocks of {gpu_tile[0]}x{gpu_tile[1]}")

# %% [markdown]
# Which block computes which part of the output, for the small convolution we run next
# (`C_out = 5` output channels, 2 images of 6x7, 3x3, padding 1): the result matrix is `5 x 84`,
# cut into tiles of the shape this run uses.

# %%
x = rng.standard_normal((2, 3, 6, 7))
weight = rng.standard_normal((5, 3, 3, 3))
bias = rng.standard_normal(5)
tiles = conv2d_tiles.tiles_for(weight.shape[0])  # NARROW for at most 8 rows (on a GPU), else WIDE
n_cols = x.shape[0] * x.shape[2] * x.shape[3]
grid = tiles.grid(rows=weight.shape[0], cols=n_cols)
print(f"tiles {tiles}, grid (column tiles, row tiles, depth splits) = {grid}")
block_map = np.empty((weight.shape[0], n_cols))
for r in range(weight.shape[0]):
    for q in range(n_cols):
        block_map[r, q] = (r // tiles.rows) * grid[0] + q // tiles.cols
fig, ax = plt.subplots(figsize=(13, 3.2))
ax.imshow(block_map, cmap="tab20", aspect="auto", interpolation="nearest")
for q in range(0, n_cols, tiles.cols):
    ax.axvline(q - 0.5, color="black", linewidth=1)
for r in range(0, weight.shape[0], tiles.rows):
    ax.axhline(r - 0.5, color="black", linewidth=1)
for r0 in range(0, weight.shape[0], tiles.rows):
    for q0 in range(0, n_cols, tiles.cols):
        ax.text(q0 + min(tiles.cols, n_cols - q0) / 2 - 0.5, r0 + min(tiles.rows, weight.shape[0] - r0) / 2 - 0.5,
                f"({q0 // tiles.cols}, {r0 // tiles.rows})", ha="center", va="center", fontsize=9)
ax.set_xlabel("column (n, i, j) = output pixel, n * H_out * W_out + i * W_out + j")
ax.set_ylabel("row o = output channel")
ax.set_title(f"out as a {weight.shape[0]} x {n_cols} matrix, one {tiles.rows} x {tiles.cols} tile per block, "
             f"labelled (blockIdx.x, blockIdx.y); {'simulator' if SIMULATED else 'GPU'} tile shapes")
fig.tight_layout()
save(fig, "conv_tiles.png")

# %% [markdown]
# Forward and both gradients on the GPU against the CPU, with stride 1 and with stride 2 (the
# discriminator's), in float64 so that only the order of the additions differs:

# %%
for stride in (1, 2):
    out_cpu, cache_cpu = conv2d.conv2d_forward(x, weight, bias, stride=stride, padding=1)
    out_gpu, cache_gpu = conv2d.conv2d_forward(gpu(x), gpu(weight), gpu(bias), stride=stride, padding=1)
    np.testing.assert_allclose(host(out_gpu), out_cpu, rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(out_cpu.shape)
    for name, on_gpu, on_cpu in zip(("input", "weight", "bias"), conv2d.conv2d_backward(gpu(g), cache_gpu),
                                    conv2d.conv2d_backward(g, cache_cpu)):
        np.testing.assert_allclose(host(on_gpu), on_cpu, rtol=1e-10, atol=1e-12, err_msg=name)
    print(f"stride {stride}: out {out_cpu.shape}, forward and the gradients of input, weight and bias agree")

# %% [markdown]
# The two gradients are products of the same kind, with their own tiles: the input gradient
# (rows `C_in`, depth `(o, u, v)`: the scatter of tutorial 2 turned into a *gather*, so that each
# input pixel has one owner thread) and the weight gradient (rows `C_out`, columns `(c, u, v)`,
# depth all `N H_out W_out` output pixels, long enough that it is split between blocks, each
# writing its own partial result, added up afterwards). `tinysr/ops/cuda/conv2d.py` says how.
#
# ## 5. A model on the GPU
#
# A network is its parameters plus the ops. `model.to("cuda")` moves every parameter, its
# gradient and every buffer to the GPU (as device arrays); `tinysr.to_device(x, "cuda")` moves a
# batch. From then on `forward`, `backward` and the optimizer's `step` all run GPU kernels and the
# arrays stay there; the loss (a Python float) is the only thing copied back each step. We take a
# tiny SRCNN (three convolutions of 4, 3 and 1 filters), an identical copy on the CPU, and do one
# Adam step on each.

# %%
model_cpu = SRCNN(channels=1, n1=4, n2=3, f1=3, f2=1, f3=3, rng=0)
model_gpu = copy.deepcopy(model_cpu).to("cuda")
first_name, first_parameter = next(iter(model_gpu.named_parameters()))
print(f"{first_name} on the GPU: {first_parameter}; its data is a {type(first_parameter.data).__name__}")
assert all(p.device == "cuda" for p in model_gpu.parameters())

x_batch = rng.random((3, 1, 9, 11), dtype=np.float32)
y_batch = rng.random((3, 1, 9, 11), dtype=np.float32)
try:
    model_gpu.forward(x_batch)  # a host array into a model on the GPU
except TypeError as error:
    print("mixing devices is refused:", error)
else:
    raise AssertionError("a host batch into a GPU model should be refused")

results = {}
for device, model in (("cpu", model_cpu), ("cuda", model_gpu)):
    optimizer, criterion = Adam(model.parameters(), lr=1e-2), MSELoss()
    started = time.perf_counter()
    optimizer.zero_grad()
    loss = criterion.forward(model.forward(tinysr.to_device(x_batch, device)), tinysr.to_device(y_batch, device))
    grad_input = model.backward(criterion.backward())
    optimizer.step()
    seconds = time.perf_counter() - started
    results[device] = (loss, host(grad_input), model.state_dict())  # state_dict: host copies of everything
    print(f"{device:>4}: loss {loss:.6f}, one training step took {seconds:.3f} s")
(loss_cpu, grad_cpu, state_cpu), (loss_gpu, grad_gpu, state_gpu) = results["cpu"], results["cuda"]
assert isinstance(loss_gpu, float)
np.testing.assert_allclose(loss_gpu, loss_cpu, rtol=1e-5)
np.testing.assert_allclose(grad_gpu, grad_cpu, rtol=1e-4, atol=1e-8)
for name, value in state_cpu.items():
    np.testing.assert_allclose(state_gpu[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
assert all(p.device == "cuda" for p in model_gpu.parameters())  # still on the GPU after the step
print("one Adam step on the GPU gives the CPU's loss, input gradient and updated weights (float32, 1e-5)")

# %% [markdown]
# In float32 the two devices add in different orders, so they agree to about 1e-6 relative, not
# bit for bit (a BatchNorm network with Adam needs more care: `tests/cuda/test_cuda_models.py`
# says why). `model.to("cpu")` brings everything back. Under the simulator the GPU step above took
# far longer than the CPU's, because every thread is a Python thread; on a GPU the same kernels
# run thousands of threads at a time, and `benchmarks/bench_gpu.py` measures them on real
# networks.
#
# ## What to take away
#
# * A CUDA kernel is the body of a loop; the launch `[blocks, threads]` says how many copies of it
#   run, and `cuda.grid(1)` tells each copy which element is its own. A grid-stride loop keeps the
#   kernel correct for any grid.
# * Sums need cooperation: a block adds its threads' values in shared memory, in a fixed tree
#   (`block_sum`), and partial sums per block are added by a second kernel, never by many threads
#   writing one cell.
# * A convolution is a matrix product; on a GPU it is computed in tiles held in shared memory, so
#   that each number fetched from main memory is used many times.
# * tinysr picks the tier from the array: NumPy arrays run the CPU kernels, device arrays the
#   numba.cuda ones, and `model.to("cuda")` is all a model needs.
