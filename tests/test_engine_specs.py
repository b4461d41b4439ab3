"""Contract tests of the model and GPU specifications and their presets."""

from __future__ import annotations

import dataclasses

import pytest

from sagacore.engine import GPUS, MODELS, GPUSpec, ModelSpec, get_gpu, get_model
from sagacore.errors import ConfigError, SagacoreError, UnknownNameError

TINY = {
    "name": "tiny",
    "num_layers": 2,
    "hidden_size": 64,
    "num_heads": 4,
    "num_kv_heads": 2,
    "head_dim": 16,
    "intermediate_size": 128,
    "vocab_size": 1000,
    "num_params": 200_000,
}
TOY_GPU = {
    "name": "toy",
    "peak_flops": 1e12,
    "hbm_bandwidth": 1e11,
    "memory_bytes": 2.0**30,
    "interconnect_bandwidth": 1e10,
    "pcie_bandwidth": 1e9,
}


def test_required_presets_exist() -> None:
    assert {"llama-3-8b", "llama-3-70b", "qwen2.5-7b"} <= set(MODELS)
    assert {"a100-80gb", "h100-80gb", "h200"} <= set(GPUS)
    for name, spec in MODELS.items():
        assert spec.name == name
    for name, gpu in GPUS.items():
        assert gpu.name == name


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_param_count_matches_shapes(name: str) -> None:
    spec = MODELS[name]
    assert spec.shape_params == pytest.approx(spec.num_params, rel=1e-3)
    assert 0 < spec.body_params < spec.num_params
    assert spec.streamed_weight_bytes <= spec.weight_bytes


def test_kv_bytes_per_token_known_values() -> None:
    # 2 (K, V) x layers x KV heads x head dim x 2 bytes
    assert get_model("llama-3-8b").kv_bytes_per_token == 2 * 32 * 8 * 128 * 2 == 131072
    assert get_model("llama-3-70b").kv_bytes_per_token == 2 * 80 * 8 * 128 * 2 == 327680
    assert get_model("llama-2-7b").kv_bytes_per_token == 2 * 32 * 32 * 128 * 2


def test_weight_bytes_match_vllm_log() -> None:
    # vLLM logs "model weights take 14.96GiB" for Meta-Llama-3-8B (PR #10511).
    assert get_model("llama-3-8b").weight_bytes / 2**30 == pytest.approx(14.96, abs=0.005)


def test_fp8_kv_halves_kv_bytes() -> None:
    spec = get_model("llama-3-8b")
    assert dataclasses.replace(spec, kv_dtype_bytes=1).kv_bytes_per_token == 65536


def test_unknown_presets_raise_unknown_name_error() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown model 'nope'; known: .*llama-3-8b"):
        get_model("nope")
    with pytest.raises(UnknownNameError, match=r"unknown GPU 'v100'; known: .*h200"):
        get_gpu("v100")
    with pytest.raises(SagacoreError):
        get_gpu("v100")


def test_specs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_model("llama-3-8b").num_layers = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_gpu("h200").peak_flops = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("num_layers", 0, "ModelSpec.num_layers must be a positive integer, got 0"),
        ("hidden_size", -64, "got -64"),
        ("head_dim", 16.5, "got 16.5"),
        ("num_heads", True, "got True"),
        ("num_kv_heads", 3, r"num_kv_heads \(3\) must divide num_heads \(4\)"),
        ("dtype_bytes", 0, "ModelSpec.dtype_bytes must be a finite number > 0, got 0"),
        ("kv_dtype_bytes", float("nan"), "got nan"),
        ("num_params", 1000, r"num_params \(1000\) must exceed"),
        ("name", "", "non-empty string"),
        ("tie_word_embeddings", 1, "must be a bool, got 1"),
    ],
)
def test_model_spec_validation_shows_bad_value(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelSpec(**{**TINY, field: value})  # type: ignore[arg-type]


def test_tied_embeddings_counted_once() -> None:
    untied = ModelSpec(**TINY)  # type: ignore[arg-type]
    tied = dataclasses.replace(untied, tie_word_embeddings=True)
    assert tied.body_params - untied.body_params == untied.embedding_params
    assert tied.streamed_weight_bytes == tied.weight_bytes


@pytest.mark.parametrize(
    "field",
    ["peak_flops", "hbm_bandwidth", "memory_bytes", "interconnect_bandwidth", "pcie_bandwidth"],
)
@pytest.mark.parametrize("value", [0, -1.0, float("inf"), "fast"])
def test_gpu_spec_validation_shows_bad_value(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"GPUSpec\.{field} must be a finite number > 0, got"):
        GPUSpec(**{**TOY_GPU, field: value})  # type: ignore[arg-type]


def test_gpu_presets_datasheet_ordering() -> None:
    a100, h100, h200 = get_gpu("a100-80gb"), get_gpu("h100-80gb"), get_gpu("h200")
    assert a100.peak_flops < h100.peak_flops == h200.peak_flops
    assert a100.hbm_bandwidth < h100.hbm_bandwidth < h200.hbm_bandwidth
    assert h100.memory_bytes < h200.memory_bytes
    assert h100.memory_bytes / 2**30 == pytest.approx(79.22)  # vLLM's total_gpu_memory
