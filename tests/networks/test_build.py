"""The CNNs of the presets: outputs, layer names for CAMs, and that they learn a trivially learnable signal."""

import keras
import numpy as np
import pytest
from keras import layers

from core.config import TrainConfig
from core.data.loading import load_faces
from core.networks.arithmetic import has_bfloat16_instructions
from core.networks.build import (
    AGES,
    build_model,
    cam_layer_name,
    compile_model,
    inference_copy,
    model_heads,
)
from core.networks.presets import DEFAULT_PRESET, get_preset


@pytest.mark.parametrize("task, heads", [("gender", ("gender",)), ("age", ("age",)), ("both", ("gender", "age"))])
def test_models_have_the_heads_of_their_task(task, heads):
    model = build_model(get_preset("seed"), task, age_bias=30.0)
    assert model_heads(model) == heads
    outputs = model(np.zeros((3, 48, 48, 1), np.float32), training=False)
    if "gender" in heads:
        assert outputs["gender"].shape == (3, 2)
        np.testing.assert_allclose(np.sum(outputs["gender"], axis=1), 1.0, rtol=1e-5)
        assert model.get_layer("gender").activation.__name__ == "softmax"
    if "age" in heads:
        assert outputs["age"].shape == (3, 1)
        assert float(np.min(outputs["age"])) >= 0.0
    for head in heads:
        assert isinstance(model.get_layer(cam_layer_name(model, head)), layers.Conv2D)


@pytest.mark.parametrize("name", ["compact", "compact-long"])
def test_trunk_presets_share_one_trunk_between_their_heads(name):
    preset = get_preset(name)
    model = build_model(preset, "both", age_bias=30.0)
    assert cam_layer_name(model, "gender") == cam_layer_name(model, "age") == "last_conv"
    assert model.count_params() < build_model(get_preset("seed"), "both").count_params()
    compile_model(model, preset, learning_rate=1e-3, total_steps=100)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)


def test_default_preset_batch_norm_settles_within_a_short_run():
    # With Keras's default momentum (0.99) the moving statistics still hold
    # 0.99 ** 100 = 37 % of their initial values after 100 steps, and a short
    # run predicts at chance; 0.9 leaves 0.9 ** 100, nothing.
    model = build_model(get_preset(DEFAULT_PRESET), "both")
    momenta = {layer.momentum for layer in model.layers if isinstance(layer, layers.BatchNormalization)}
    assert momenta == {0.9}


def test_a_bfloat16_model_keeps_float32_heads_and_has_a_float32_twin_with_its_weights(shared_csv):
    mixed = build_model(get_preset(DEFAULT_PRESET), "both", age_bias=30.0, dtype_policy="mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32", "the policy is set for one model, not for the process"
    assert mixed.get_layer("conv2_1").compute_dtype == "bfloat16"
    assert mixed.get_layer("gender").compute_dtype == mixed.get_layer("age").compute_dtype == "float32"
    twin = inference_copy(mixed)
    assert {layer.compute_dtype for layer in twin.layers} == {"float32"}
    for layer in twin.layers:  # The twin has every layer but the training-only heads, with the same weights.
        for ours, theirs in zip(mixed.get_layer(layer.name).get_weights(), layer.get_weights(), strict=True):
            np.testing.assert_array_equal(ours, theirs)
    faces, _ = load_faces(shared_csv)
    images = faces.as_float(np.arange(0, len(faces), 700))
    from_mixed, from_twin = mixed.predict(images, verbose=0), twin.predict(images, verbose=0)
    for head in ("gender", "age"):
        assert from_mixed[head].dtype == np.float32
        # Only the arithmetic differs: bfloat16 keeps about 3 significant digits.
        np.testing.assert_allclose(from_mixed[head], from_twin[head], rtol=0.02, atol=0.02)
    float32_model = build_model(get_preset("seed"), "gender")
    compile_model(float32_model, get_preset("seed"), 1e-4, total_steps=10)
    copy = inference_copy(float32_model)
    assert copy is not float32_model and not copy.compiled, "saved without optimizer state"


@pytest.mark.parametrize(
    "cpuinfo, expected",
    [
        ("flags\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n", True),
        ("flags : fpu amx_bf16 amx_tile\n", True),
        ("flags : fpu sse2 avx2 fma\n", False),
    ],
)
def test_bfloat16_is_used_only_where_the_cpu_has_bfloat16_instructions(tmp_path, monkeypatch, cpuinfo, expected):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    (tmp_path / "cpuinfo").write_text(cpuinfo)
    assert has_bfloat16_instructions(tmp_path / "cpuinfo") is expected
    assert has_bfloat16_instructions(tmp_path / "no-such-file") is False
    # oneDNN limited to fewer instructions: as on a CPU without them.
    for limit, allowed in (("AVX2", False), ("avx512_core", False), ("AVX512_CORE_BF16", True), ("ALL", True)):
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", limit)
        assert has_bfloat16_instructions(tmp_path / "cpuinfo") is (expected and allowed), limit


def test_seed_models_use_only_the_agreed_layer_kinds():
    allowed = (
        layers.InputLayer,
        layers.Conv2D,
        layers.MaxPooling2D,
        layers.BatchNormalization,
        layers.Dropout,
        layers.Flatten,
        layers.Dense,
    )
    model = build_model(get_preset("seed"), "both")
    assert all(isinstance(layer, allowed) for layer in model.layers)


def test_unknown_preset_or_task_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown preset 'nope'"):
        TrainConfig(preset="nope")
    with pytest.raises(ValueError, match="Unknown task"):
        build_model(get_preset("seed"), "height")


def test_gender_model_learns_a_trivially_learnable_signal():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    gender = rng.integers(0, 2, 256)
    images = rng.random((256, 48, 48, 1)).astype(np.float32) * 0.2
    images[gender == 1, :24] += 0.8  # Female faces get a bright upper half.
    model = build_model(get_preset("seed"), "gender")
    compile_model(model, get_preset("seed"), learning_rate=1e-3, total_steps=32)
    model.fit(images, {"gender": np.eye(2)[gender]}, epochs=4, batch_size=32, verbose=0)
    predicted = np.argmax(model.predict(images, verbose=0)["gender"], axis=1)
    assert (predicted == gender).mean() > 0.9


def test_a_distribution_age_head_answers_the_expected_age_of_its_distribution_and_saves_no_ethnicity_head():
    model = build_model(get_preset("compact-dldl"), "both", age_bias=30.0)
    assert sorted(model.output_names) == ["age", "age_distribution", "ethnicity", "gender"]
    compile_model(model, get_preset("compact-dldl"), learning_rate=1e-3, total_steps=100)
    saved = inference_copy(model)
    assert sorted(saved.output_names) == ["age", "age_distribution", "gender"], "ethnicity only shapes training"
    images = np.random.default_rng(0).random((4, 48, 48, 1), dtype=np.float32)
    outputs = saved.predict(images, verbose=0)
    distribution = outputs["age_distribution"]
    assert distribution.shape == (4, len(AGES))
    np.testing.assert_allclose(distribution.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(outputs["age"][:, 0], distribution @ np.arange(len(AGES)), rtol=1e-4)
    # It starts near the mean age it was given, as the regression head starts at it.
    assert np.all(np.abs(outputs["age"][:, 0] - 30.0) < 10.0)
    assert not saved.get_layer("age").trainable
