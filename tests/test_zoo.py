"""The model zoo: registry behaviour, exact parameter counts, meta forward passes, HarDNet wiring."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from trafficsim.errors import InputError, UnknownModelError
from trafficsim.zoo import (MODELS, create_model, list_models, model_family, model_input_size,
                            registered_models, resolve_model_name)

# Exact counts of all parameters (conv/linear weights and biases, BN weight and bias).
PARAM_COUNTS = {
    "hardnet39ds": 3_488_228,
    "hardnet68ds": 4_180_602,
    "hardnet68": 17_565_348,
    "hardnet85": 36_670_212,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnet50_v1": 25_557_032,
    "resnet101_v1": 44_549_160,
    "resnet152_v1": 60_192_808,
    "densenet121": 7_978_856,
    "densenet161": 28_681_000,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "densenet264": 33_337_704,
    "mobilenet_v2": 3_504_872,
    # torchvision's definition at width 1.4: stem 48, stages 24/32/48/88/136/224/448, last conv 1792
    "mobilenet_v2_140": 6_108_776,
    "vgg16": 138_357_544,
    "squeezenet1_0": 1_248_424,
    # Caffe's bvlc_alexnet (Krizhevsky et al. 2012): 2 groups in conv2/4/5
    "alexnet": 60_965_224,
}


def _build(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kwargs)


def _param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_static_table_equals_decorator_registrations():
    assert registered_models() == MODELS


# Classification families tested here; segmentation models are tested in test_segmentation.py.
CLASSIFICATION_FAMILIES = {"hardnet", "resnet", "densenet", "mobilenet", "vgg", "squeezenet", "alexnet"}


def test_every_classification_model_has_an_expected_count():
    classification = [n for n in list_models() if model_family(n) in CLASSIFICATION_FAMILIES]
    assert sorted(PARAM_COUNTS) == classification


@pytest.mark.parametrize("name", sorted(PARAM_COUNTS))
def test_param_count(name):
    model = _build(name)
    assert _param_count(model) == PARAM_COUNTS[name]
    assert all(p.device.type == "meta" for p in model.parameters())


@pytest.mark.slow  # meta kernels of conv/BN run Python shape functions: ~0.3-1 s per model
@pytest.mark.parametrize("name", sorted(PARAM_COUNTS))
def test_meta_forward(name):
    model = _build(name).eval()
    with torch.no_grad():
        out = model(torch.empty(1, 3, *model_input_size(name), device="meta"))
    assert tuple(out.shape) == (1, 1000)


@pytest.mark.parametrize("name", ["hardnet39ds", "resnet18", "squeezenet1_0"])
def test_num_classes(name):
    model = _build(name, num_classes=10)
    with torch.no_grad():
        out = model(torch.empty(2, 3, 224, 224, device="meta"))
    assert tuple(out.shape) == (2, 10)


def test_list_models_sorted_and_filtered():
    names = list_models()
    assert names == sorted(names) and set(names) == set(MODELS)
    assert list_models("hardnet*") == ["hardnet39ds", "hardnet68", "hardnet68ds", "hardnet85"]
    assert list_models("*_v1") == ["resnet101_v1", "resnet152_v1", "resnet50_v1"]
    assert list_models("DENSENET*") == ["densenet121", "densenet161", "densenet169", "densenet201", "densenet264"]
    assert list_models("nothing-like-this") == []
    assert "resnet18_v1" not in names and "resnet34_v1" not in names  # identical to resnet18/34


def test_names_resolve_ignoring_case_and_separators():
    assert resolve_model_name("HarDNet-68") == "hardnet68"
    assert resolve_model_name("ResNet50-v1") == "resnet50_v1"
    assert resolve_model_name("mobilenetv2") == "mobilenet_v2"
    assert model_family("hardnet39ds") == "hardnet"


def test_unknown_name_suggests_close_names():
    with pytest.raises(UnknownModelError) as info:
        create_model("hardnet86")
    message = str(info.value)
    assert "hardnet86" in message and "hardnet85" in message and "\n" not in message
    with pytest.raises(UnknownModelError, match="densenet121"):
        resolve_model_name("densnet121")


def test_unknown_option_is_a_user_error():
    with pytest.raises(InputError, match="hardnet68.*width"):
        create_model("hardnet68", width=2)
    assert _param_count(_build("hardnet68", depth_wise=True)) == PARAM_COUNTS["hardnet68ds"]


def test_state_dict_keys_follow_the_reference_layouts():
    hardnet = _build("hardnet68ds").state_dict()
    for key in ("base.0.conv.weight", "base.2.dwconv.weight", "base.3.layers.7.layer1.conv.weight",
                "base.3.layers.7.layer2.dwconv.weight", "base.4.norm.running_var", "base.16.3.weight"):
        assert key in hardnet
    # HarDNet-85: 3 stem + 6 x (block, transition) + 3 pools, with Dropout(0.1) at base.17 before the last transition
    hardnet85 = _build("hardnet85")
    assert isinstance(hardnet85.base[17], nn.Dropout) and hardnet85.base[17].p == 0.1
    assert "base.19.3.weight" in hardnet85.state_dict()
    keys = {
        "resnet50_v1": ["layer3.5.conv3.weight", "layer4.0.downsample.1.running_mean", "fc.bias"],
        "densenet161": ["features.denseblock3.denselayer36.conv2.weight", "features.transition3.norm.weight",
                        "features.norm5.bias", "classifier.weight"],
        "mobilenet_v2": ["features.1.conv.0.0.weight", "features.1.conv.1.weight", "features.18.1.bias",
                         "classifier.1.weight"],
        "vgg16": ["features.28.weight", "classifier.6.bias"],
        "squeezenet1_0": ["features.12.expand3x3.weight", "classifier.1.weight"],
    }
    for name, expected in keys.items():
        state = _build(name).state_dict()
        assert all(k in state for k in expected), name


def test_listing_and_validation_do_not_import_torch():
    code = ("import sys, trafficsim.zoo as z; z.list_models(); z.resolve_model_name('hardnet68');\n"
            "try: z.resolve_model_name('nope')\nexcept Exception: pass\n"
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def _conv_channels(model: nn.Module, prefix: str, x_shape=(1, 3, 224, 224)) -> list[tuple[str, int, int]]:
    """(name, in, out) of the convs under ``prefix`` in forward execution order, seen on the tensors."""
    seen: list[tuple[str, int, int]] = []
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and name.startswith(prefix):
            handles.append(module.register_forward_hook(
                lambda m, inp, out, name=name: seen.append((name, inp[0].shape[1], out.shape[1]))))
    with torch.no_grad():
        model(torch.empty(*x_shape, device="meta"))
    for h in handles:
        h.remove()
    return seen


def test_hardnet68_first_block_wiring():
    model = _build("hardnet68")
    block = _conv_channels(model, "base.3.")
    assert [c_in for _, c_in, _ in block] == [64, 78, 24, 102, 40, 54, 24, 142]
    assert [c_out for _, _, c_out in block] == [14, 24, 14, 40, 14, 24, 14, 68]
    assert block[5][0] == "base.3.layers.5.conv"
    assert _conv_channels(model, "base.4.") == [("base.4.conv", 124, 128)]
    # the transition widths of HarDNet-68, and the 1024-wide last transition feeding the FC
    assert [model.base[i].conv.out_channels for i in (4, 7, 9, 12, 15)] == [128, 256, 320, 640, 1024]
    assert isinstance(model.base[6].layers[0].relu, nn.ReLU6)


def test_hardnet_block_outputs_match_reference_tables():
    from trafficsim.zoo.hardnet import HarDBlock, get_link
    # sequential float multiply then rounding to an even integer: 14*1.7^n -> 24, 40, 68
    assert [get_link(layer, 64, 14, 1.7)[0] for layer in (2, 4, 8)] == [24, 40, 68]
    assert get_link(8, 64, 14, 1.7) == (68, 142, [7, 6, 4, 0])
    with torch.device("meta"):
        outs68 = [HarDBlock(c, k, 1.7, n).get_out_ch()
                  for c, k, n in [(64, 14, 8), (128, 16, 16), (256, 20, 16), (320, 40, 16), (640, 160, 4)]]
        outs39 = [HarDBlock(c, k, 1.6, n, dwconv=True).get_out_ch()
                  for c, k, n in [(48, 16, 4), (96, 20, 16), (320, 64, 8), (640, 160, 4)]]
    assert outs68 == [124, 262, 328, 654, 782]
    assert outs39 == [72, 292, 518, 730]


def test_hardnet_ds_layers():
    model = _build("hardnet39ds")
    stem_pool = model.base[2]
    assert stem_pool.dwconv.groups == 48 and stem_pool.dwconv.stride == (2, 2)
    assert not any(isinstance(m, (nn.ReLU, nn.ReLU6)) for m in stem_pool.modules())  # DWConvLayer: BN only
    comb = model.base[3].layers[1]  # CombConv: 1x1 ConvLayer, then depth-wise 3x3
    assert comb.layer1.conv.kernel_size == (1, 1) and (comb.layer1.conv.in_channels, comb.layer1.conv.out_channels) == (64, 26)
    assert comb.layer2.dwconv.kernel_size == (3, 3) and comb.layer2.dwconv.groups == 26
    assert model.base[1].conv.kernel_size == (1, 1)  # DS models use a 1x1 second stem conv
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    assert model.base[-1][2].p == 0.05


def test_resnet_stride_placement():
    v15, v1 = _build("resnet50"), _build("resnet50_v1")
    assert v15.layer2[0].conv1.stride == (1, 1) and v15.layer2[0].conv2.stride == (2, 2)
    assert v1.layer2[0].conv1.stride == (2, 2) and v1.layer2[0].conv2.stride == (1, 1)
    assert v1.layer2[0].downsample[0].stride == (2, 2)
    assert v1.layer1[0].conv1.stride == (1, 1)  # the first stage never downsamples


def test_densenet_layout():
    model = _build("densenet121")
    names = dict(model.named_modules())
    assert names["features.denseblock1.denselayer6.conv2"].in_channels == 128
    assert names["features.transition1.conv"].in_channels == 256
    assert names["features.transition3.conv"].out_channels == 512
    assert names["features.denseblock4.denselayer16.conv1"].in_channels == 512 + 15 * 32
    assert model.classifier.in_features == 1024
    assert _build("densenet264").classifier.in_features == 2688


def test_mobilenet_v2_140_widths():
    model = _build("mobilenet_v2_140")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].out_channels == 48 and convs[-1].out_channels == 1792
    project_widths = sorted({m.conv[-2].out_channels for m in model.features[1:-1]})
    assert project_widths == [24, 32, 48, 88, 136, 224, 448]
