"""The Numba forward convolution computed block by block: every layout, schedule and block size against the reference.

``conv2d_forward_numba`` cuts each image's output into blocks (bands of rows for im2col, stretches
of flat "wide" columns for shifted windows and Winograd rows) and shares them out in one of two
schedules: whole images per thread, or every (image, block) pair shared by all threads after a
parallel padding pass (``Plan.share_images``). With the default block sizes the small images of the
other tests fit in one block, and with one thread the "images" schedule is always chosen; so
these tests force each layout, each schedule and tiny blocks, so that block edges fall in the
middle of rows, in the junk columns of the wide layout and on the last, shorter block. Direct rows
(stride 1, few output channels) have no blocks, one output row per work item; they are forced too.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import random_array, seeds

from tinysr.ops.conv2d import conv2d_backward, conv2d_forward
from tinysr.ops.cpu import conv2d_winograd
from tinysr.ops.cpu.conv2d import choose_plan, force
from tinysr.ops.cpu.conv2d_planes import equal_parts


def _forced(layout: str, share_images: bool, block_columns: int | None = None, im2col_entries: int | None = None):
    """Force the Numba layout, the forward schedule and (optionally) the block size.

    "winograd" (stride 1, 5 kernel rows) and "direct" (stride 1) are taken only where they apply;
    elsewhere the shifted windows.
    """
    return force(layout=layout, share_images=share_images,
                 block=im2col_entries if layout == "im2col" else block_columns)


def _problem(x_shape, w_shape, has_bias, seed, dtype):
    x = random_array(seed, x_shape).astype(dtype)
    weight = random_array(seed + 1, w_shape).astype(dtype)
    bias = random_array(seed + 2, (w_shape[0],)).astype(dtype) if has_bias else None
    return x, weight, bias


def _assert_close(fast, slow, dtype, name="out"):
    assert fast.dtype == dtype and fast.shape == slow.shape, name
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    scale = max(1.0, float(np.abs(slow).max()))
    np.testing.assert_allclose(fast, slow, rtol=rtol, atol=rtol * scale, err_msg=name)


@st.composite
def blocked_configs(draw, winograd=False):
    """A convolution plus a block size small enough to cut its output into several uneven blocks.

    With ``winograd``: stride 1 and 5 kernel rows, the convolutions that Winograd rows compute.
    """
    n_images = draw(st.integers(1, 3))
    in_channels, out_channels = draw(st.integers(1, 9)), draw(st.integers(1, 5))
    k_h, k_w = (5 if winograd else draw(st.integers(1, 5))), draw(st.integers(1, 5))
    s_h, s_w = (1, 1) if winograd else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p_h, p_w = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    height = draw(st.integers(max(1, k_h - 2 * p_h), 13))
    width = draw(st.integers(max(1, k_w - 2 * p_w), 13))
    shapes = (n_images, in_channels, height, width), (out_channels, in_channels, k_h, k_w)
    block_columns = draw(st.integers(1, 40))        # flat output columns per window / Winograd block
    im2col_entries = draw(st.integers(1, 2000))     # im2col entries per band: 0 rows means 1
    return shapes, (s_h, s_w), (p_h, p_w), draw(st.booleans()), draw(seeds), block_columns, im2col_entries


def _check_blocked(layout, share_images, dtype, config):
    (x_shape, w_shape), stride, padding, has_bias, seed, block_columns, im2col_entries = config
    x, weight, bias = _problem(x_shape, w_shape, has_bias, seed, dtype)
    with _forced(layout, share_images, block_columns, im2col_entries):
        fast, _ = conv2d_forward(x, weight, bias, stride, padding)
    slow, _ = conv2d_forward(x, weight, bias, stride, padding, backend="reference")
    _assert_close(fast, slow, dtype)


@pytest.mark.parametrize("layout", ["im2col", "windows", "direct"])
@pytest.mark.parametrize("share_images", [False, True], ids=["images-per-thread", "shared-images"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(config=blocked_configs())
def test_blocked_forward_matches_reference(layout, share_images, dtype, config):
    _check_blocked(layout, share_images, dtype, config)


@pytest.mark.parametrize("share_images", [False, True], ids=["images-per-thread", "shared-images"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(config=blocked_configs(winograd=True))
def test_winograd_rows_match_reference(share_images, dtype, config):
    # H_out of every remainder mod 4 (all but 0 leave the last row group part empty), 1 to 5 kernel columns
    _check_blocked("winograd", share_images, dtype, config)


@pytest.mark.parametrize("share_images", [False, True], ids=["images-per-thread", "shared-images"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout, x_shape, w_shape, stride, padding", [
    ("winograd", (1, 64, 37, 41), (32, 64, 5, 5), 1, 2),    # SRCNN's middle layer, as upscale runs it
    ("windows", (1, 64, 37, 41), (32, 64, 5, 5), 1, 2),      # the same by shifted windows: 2 blocks of 831
    ("winograd", (2, 16, 31, 20), (16, 16, 5, 3), 1, (2, 1)),  # odd H_out, 5x3 kernel
    ("windows", (3, 32, 29, 47), (1, 32, 5, 5), 1, 2),       # one output channel, odd sizes, 3 images
    ("direct", (3, 32, 29, 47), (1, 32, 5, 5), 1, 2),       # the same by direct rows (SRCNN's last layer)
    ("direct", (2, 16, 24, 19), (3, 16, 9, 9), 1, 4),       # SRResNet's last layer, 3 output channels
    ("direct", (1, 2, 15, 17), (4, 2, 3, 5), 1, (0, 3)),    # few input channels, uneven padding
    ("im2col", (1, 1, 45, 29), (64, 1, 9, 9), 1, 4),        # SRCNN's first layer: bands of 12 rows
    ("im2col", (2, 3, 31, 23), (16, 3, 5, 3), (2, 1), (1, 0)),  # im2col with a row stride
    ("windows", (3, 8, 33, 35), (6, 8, 3, 3), 2, 1),         # four stride phases
])
def test_default_blocks_at_realistic_sizes(share_images, dtype, layout, x_shape, w_shape, stride, padding):
    x, weight, bias = _problem(x_shape, w_shape, True, sum(x_shape), dtype)
    with _forced(layout, share_images):
        fast, cache = conv2d_forward(x, weight, bias, stride, padding)
        # the backward pass reads the same phase layout: check it on the same problem
        grad_output = random_array(7, fast.shape).astype(dtype)
        fast_grads = conv2d_backward(grad_output, cache)
    slow, slow_cache = conv2d_forward(x, weight, bias, stride, padding, backend="reference")
    _assert_close(fast, slow, dtype)
    slow_grads = conv2d_backward(grad_output, slow_cache, backend="reference")
    for name, f, s in zip(["grad_input", "grad_weight", "grad_bias"], fast_grads, slow_grads):
        _assert_close(f, s, dtype, name)


def test_winograd_matrices_compute_a_five_tap_correlation():
    # y = AT ((G g) * (BT d)) must be the m outputs of the correlation of d (m + 4 values) with g (5 taps)
    rows, points = conv2d_winograd.AT.shape
    assert (rows, points) == (4, 8) and conv2d_winograd.G.shape == (8, 5)
    rng = np.random.default_rng(3)
    for _ in range(20):
        g, d = rng.standard_normal(5), rng.standard_normal(points)
        y = conv2d_winograd.AT @ ((conv2d_winograd.G @ g) * (conv2d_winograd.BT @ d))
        np.testing.assert_allclose(y, [g @ d[i:i + 5] for i in range(rows)], rtol=1e-12, atol=1e-12)


def _layout(x_channels, w_shape, stride=(1, 1)):
    return choose_plan((4, x_channels, 20, 20), w_shape, stride).layout


def test_winograd_is_chosen_only_where_it_applies():
    assert _layout(64, (32, 64, 5, 5)) == "winograd"                # SRCNN's middle layer
    assert _layout(32, (1, 32, 5, 5)) != "winograd"                 # its last layer: too few output channels
    assert "winograd" not in {_layout(64, (64, 64, 3, 3)), _layout(64, (64, 64, 5, 5), (2, 2)),
                              _layout(3, (64, 3, 5, 5))}


def test_direct_rows_are_chosen_only_where_they_apply():
    assert _layout(32, (1, 32, 5, 5)) == "direct" and _layout(64, (3, 64, 9, 9)) == "direct"  # SRCNN, SRResNet
    assert "direct" not in {_layout(32, (32, 32, 3, 3)), _layout(32, (1, 32, 3, 3), (2, 2)),
                            _layout(32, (3, 32, 3, 3), (1, 2))}


def test_the_other_layouts_follow_the_input_channels():
    assert _layout(1, (64, 1, 9, 9)) == "im2col" and _layout(3, (64, 3, 9, 9)) == "im2col"   # an image
    assert _layout(4, (64, 4, 3, 3)) == "windows" and _layout(64, (64, 64, 3, 3)) == "windows"


def test_forcing_a_layout_that_does_not_apply_falls_back_to_the_windows():
    with force(layout="winograd"):
        assert _layout(64, (64, 64, 3, 3)) == "windows"
    with force(layout="direct"):
        assert _layout(64, (1, 64, 3, 3), (2, 2)) == "windows"
    with force(layout="im2col"):
        assert _layout(64, (32, 64, 5, 5)) == "im2col"
    with pytest.raises(ValueError, match=r"unknown layout 'window'.*'windows'"):
        with force(layout="window"):
            pass


def test_the_schedule_follows_the_thread_count(monkeypatch):
    # images are shared out whole only when they divide evenly among the threads
    def shared(n_images):
        return choose_plan((n_images, 8, 9, 9), (8, 8, 3, 3), (1, 1)).share_images

    monkeypatch.setattr("numba.get_num_threads", lambda: 2)
    assert [shared(n) for n in (1, 2, 3, 4, 16)] == [True, False, True, False, False]
    monkeypatch.setattr("numba.get_num_threads", lambda: 1)
    assert not any(shared(n) for n in (1, 2, 3))
    with force(share_images=True):
        assert shared(16)


@pytest.mark.parametrize("size, most, expected", [(10, 3, (3, 4)), (9, 3, (3, 3)), (1217, 1024, (609, 2)),
                                                  (5, 100, (5, 1)), (7, 0, (1, 7))])
def test_equal_parts(size, most, expected):
    part, parts = equal_parts(size, most)
    assert (part, parts) == expected
    assert part * parts >= size > part * (parts - 1)  # the parts cover size, none is empty
