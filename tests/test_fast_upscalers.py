"""FSRCNN and ESPCN: shapes, parameter counts, initialisation as documented, gradients, config round trip."""

import numpy as np
import pytest

from tinysr.gradcheck import gradcheck
from tinysr.models import ESPCN, FSRCNN, build_model


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_both_upscale_the_low_resolution_y_channel(scale):
    x = np.random.default_rng(0).random((2, 1, 7, 9), dtype=np.float32)
    for model in (FSRCNN(scale, rng=0), ESPCN(scale, rng=0)):
        out = model.forward(x)
        assert out.shape == (2, 1, 7 * scale, 9 * scale) and out.dtype == np.float32
        assert model.backward(np.ones_like(out)).shape == x.shape


def test_parameter_counts_match_the_papers_formulas():
    d, s, m = 56, 12, 4
    weights = 25 * d + d * s + m * 9 * s * s + s * d + d * 81  # the FSRCNN paper's count (no biases)
    assert weights == 12_464
    biases, slopes = d + s + m * s + d + 1, d + s + m * s + d
    assert FSRCNN(3, rng=0).num_parameters() == weights + biases + slopes
    for scale in (2, 3, 4):
        expected = (25 * 64 + 64) + (64 * 9 * 32 + 32) + (32 * 9 * scale**2 + scale**2)
        assert ESPCN(scale, rng=0).num_parameters() == expected


def test_initialisation_is_the_documented_one():
    model = FSRCNN(3, rng=0, dtype=np.float64)
    mapping = model.mapping[0][0].weight.data  # conv 3x3, 12 -> 12: He's std sqrt(2 / (12 * 9))
    assert abs(mapping.std() / np.sqrt(2 / 108) - 1) < 0.1 and np.all(model.mapping[0][0].bias.data == 0)
    assert abs(model.deconv.weight.data.std() / 0.001 - 1) < 0.1
    assert np.all(model.features[1].weight.data == 0.25)  # PReLU slopes, one per channel
    subpixel = ESPCN(3, rng=0).body[4].weight.data  # ICNR: the 9 kernels of one 3x3 block are equal
    assert np.all(subpixel == subpixel[:1])


def test_config_round_trip_and_seeds():
    for model in (FSRCNN(2, d=8, s=4, m=2, rng=3), ESPCN(4, rng=3)):
        rebuilt = build_model(model.config, rng=3)
        for (name, a), (_, b) in zip(model.named_parameters(), rebuilt.named_parameters()):
            np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_receptive_field_is_what_one_input_pixel_reaches():
    for model in (FSRCNN(3, d=6, s=3, m=2, rng=0, dtype=np.float64), ESPCN(2, rng=0, dtype=np.float64)):
        if isinstance(model, FSRCNN):
            model.deconv.weight.data[...] = 1.0  # every tap of the deconvolution counts
        x = np.random.default_rng(0).random((1, 1, 31, 31))
        changed = x.copy()
        changed[0, 0, 15, 15] += 1.0
        touched = np.argwhere(model.forward(changed)[0, 0] != model.forward(x)[0, 0])
        extent = touched.max(axis=0) - touched.min(axis=0) + 1
        assert tuple(extent) == (model.receptive_field, model.receptive_field)


def test_gradients_of_small_networks():
    rng = np.random.default_rng(1)
    for model in (FSRCNN(2, d=3, s=2, m=1, rng=0, dtype=np.float64), ESPCN(2, rng=0, dtype=np.float64)):
        if isinstance(model, FSRCNN):
            model.deconv.weight.data[...] = rng.normal(0, 0.3, model.deconv.weight.shape)  # not near zero
        report = gradcheck(model, rng.uniform(0.2, 0.8, size=(1, 1, 4, 3)), rtol=1e-6, max_checks_per_tensor=12)
        assert report.max_error <= 1e-6


@pytest.mark.parametrize("build, message", [
    (lambda: FSRCNN(5), r"FSRCNN: expected scale 2, 3 or 4, got 5"),
    (lambda: FSRCNN(3, d=0), r"FSRCNN: expected d to be an int >= 1, got 0"),
    (lambda: ESPCN(8), r"ESPCN: expected scale 2, 3 or 4, got 8"),
])
def test_bad_arguments_are_explained(build, message):
    with pytest.raises(ValueError, match=message):
        build()
