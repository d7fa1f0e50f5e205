"""SRCNN: shapes, parameter counts of every preset, config round trip, receptive field, gradients."""

import numpy as np
import pytest

from tinysr.gradcheck import gradcheck
from tinysr.models import MODELS, PRESETS, SRCNN, build_model

# (preset, channels) -> parameters, counted by hand: sum of C_out * C_in * k * k + C_out per layer
PARAMETER_COUNTS = {
    ("9-5-5", 1): (1 * 64 * 81 + 64) + (64 * 32 * 25 + 32) + (32 * 1 * 25 + 1),  # 57,281
    ("9-1-5", 1): (1 * 64 * 81 + 64) + (64 * 32 * 1 + 32) + (32 * 1 * 25 + 1),
    ("9-3-5", 1): (1 * 64 * 81 + 64) + (64 * 32 * 9 + 32) + (32 * 1 * 25 + 1),
    ("keras", 1): 85_889,
    ("9-5-5", 3): (3 * 64 * 81 + 64) + (64 * 32 * 25 + 32) + (32 * 3 * 25 + 3),
}


@pytest.mark.parametrize(("preset", "channels"), sorted(PARAMETER_COUNTS))
def test_presets_have_the_published_parameter_counts_and_keep_the_image_size(preset, channels):
    model = SRCNN.preset(preset, channels=channels, rng=0)
    assert model.num_parameters() == PARAMETER_COUNTS[preset, channels]
    x = np.random.default_rng(0).random((2, channels, 13, 17), dtype=np.float32)
    out = model.forward(x)
    assert out.shape == x.shape and out.dtype == np.float32
    grad_input = model.backward(np.ones_like(out))
    assert grad_input.shape == x.shape
    spec = PRESETS[preset]
    assert model.receptive_field == spec["f1"] + spec["f2"] + spec["f3"] - 2


def test_default_is_the_papers_9_5_5_on_y():
    model = SRCNN(rng=0)
    assert model.config == {"name": "srcnn", "channels": 1, "n1": 64, "n2": 32, "f1": 9, "f2": 5, "f3": 5}
    assert model.receptive_field == 17
    assert [name for name, _ in model.named_parameters()] == [
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight", "conv3.bias"]


def test_config_round_trip_rebuilds_the_same_network():
    model = SRCNN.preset("9-3-5", channels=3, rng=1)
    rebuilt = build_model(dict(model.config))
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    x = np.random.default_rng(2).random((1, 3, 12, 12), dtype=np.float32)
    np.testing.assert_array_equal(rebuilt.forward(x), model.forward(x))
    assert MODELS["srcnn"] is SRCNN


def test_seeded_weights_are_reproducible_and_layers_differ():
    a, b = SRCNN(rng=5), SRCNN(rng=5)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=name)
    # one generator feeds all layers: conv3's first weights are not a copy of conv1's
    assert not np.allclose(a.conv1.weight.data.ravel()[:10], a.conv3.weight.data.ravel()[:10])


def test_receptive_field_is_what_one_output_pixel_sees():
    model = SRCNN(n1=4, n2=3, f1=5, f2=3, f3=3, rng=0)  # receptive field 9
    x = np.random.default_rng(0).random((1, 1, 21, 21), dtype=np.float32)
    changed = x.copy()
    changed[0, 0, 10, 10] += 1.0
    touched = np.argwhere(model.forward(changed)[0, 0] != model.forward(x)[0, 0])
    extent = touched.max(axis=0) - touched.min(axis=0) + 1
    assert tuple(extent) == (model.receptive_field, model.receptive_field)


def test_gradients_of_a_small_srcnn():
    model = SRCNN(channels=1, n1=3, n2=2, f1=3, f2=1, f3=3, rng=0).astype(np.float64)
    x = np.random.default_rng(1).uniform(0.2, 0.8, size=(2, 1, 5, 5))
    assert gradcheck(model, x, seed=0).passed


@pytest.mark.parametrize(("arguments", "message"), [
    ({"channels": 2}, "channels 1"),
    ({"f2": 4}, "odd kernel"),
    ({"n1": 0}, "n1 to be a positive int"),
    ({"n2": 2.5}, "n2 to be a positive int"),
])
def test_bad_arguments_are_explained(arguments, message):
    with pytest.raises(ValueError, match=message):
        SRCNN(**arguments)


def test_unknown_preset_and_model_are_explained():
    with pytest.raises(ValueError, match="unknown preset '9-9-9'"):
        SRCNN.preset("9-9-9")
    with pytest.raises(ValueError, match="unknown model 'srgan'"):
        build_model({"name": "srgan"})
    with pytest.raises(ValueError, match="does not fit SRCNN"):
        build_model({"name": "srcnn", "depth": 3})
    with pytest.raises(ValueError, match="'name' key"):
        build_model({"channels": 1})
