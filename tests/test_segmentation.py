"""Segmentation zoo (FC-DenseNet, FC-HarDNet, SegNet): parameter counts, layer counts, CIO against the HarDNet
paper's Table 2, transposed convs and unpooling as the converter records them."""
from __future__ import annotations

import functools

import pytest
import torch

from trafficsim import metrics
from trafficsim.convert import to_topology
from trafficsim.topology import layer_scalesim_rows
from trafficsim.zoo import create_model, model_input_size

MIB = 2 ** 20

# name -> (exact parameter count of our definition, published count, tolerance on the published count)
PARAMS = {
    "fc_densenet56": (1_376_795, 1.4e6, 0.03),
    "fc_densenet67": (3_463_243, 3.5e6, 0.03),
    "fc_densenet103": (9_322_091, 9.4e6, 0.03),
    "fc_hardnet68": (1_366_675, 1.4e6, 0.05),
    "fc_hardnet76": (3_462_421, 3.5e6, 0.05),
    "fc_hardnet84": (8_348_011, 8.4e6, 0.05),
    "fc_hardnet70": (4_119_257, 4_119_257, 0.0),
    "segnet": (29_449_355, 29.5e6, 0.01),
}

# Table 2 of the HarDNet paper at 352x480: CIO in fp32 MiB, "GMACs" (which are 2 x MACs) and the tolerance on CIO
TABLE2 = {
    "fc_densenet56": (1351, 60, 0.03),
    "fc_densenet67": (2286, 140, 0.03),
    "fc_densenet103": (2150, 134, 0.03),
    "fc_hardnet68": (473, 15, 0.05),
    "fc_hardnet76": (932, 54, 0.05),
    "fc_hardnet84": (1267, 100, 0.05),
}

# the number in each name is its count of conv layers (transposed convs and the classifier included)
CONV_LAYERS = {"fc_densenet56": 56, "fc_densenet67": 67, "fc_densenet103": 103, "fc_hardnet68": 68,
               "fc_hardnet76": 76, "fc_hardnet84": 84, "fc_hardnet70": 70, "segnet": 26}


def _build(name: str) -> torch.nn.Module:
    with torch.device("meta"):
        return create_model(name)


@functools.lru_cache(maxsize=None)
def _topology(name: str, h: int = 352, w: int = 480):
    return to_topology(_build(name), (3, h, w), name=name)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_counts(name):
    exact, published, tol = PARAMS[name]
    count = sum(p.numel() for p in _build(name).parameters())
    assert count == exact
    assert abs(count - published) <= tol * published


def test_camvid_defaults():
    for name in ("fc_densenet103", "fc_hardnet84", "segnet"):
        assert model_input_size(name) == (360, 480)
        assert _build(name).forward is not None
    assert model_input_size("fc_hardnet70") == (1024, 2048)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TABLE2))
def test_cio_and_flops_match_table2(name):
    cio_mib_paper, gflops_paper, tol = TABLE2[name]
    topo = _topology(name)
    cio_mib = metrics.cio(topo, paper=True) * 4 / MIB
    assert abs(cio_mib - cio_mib_paper) <= tol * cio_mib_paper, cio_mib
    # Table 2's "GMACs" are FLOPs: 2 x our MACs within 5 % for every FC network
    gflops = 2 * metrics.macs(topo) / 1e9
    assert abs(gflops - gflops_paper) <= 0.05 * gflops_paper, gflops


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONV_LAYERS))
def test_conv_layer_count_and_output(name):
    h, w = (256, 512) if name == "fc_hardnet70" else (360, 480)
    topo = _topology(name, h, w)
    convs = [layer for layer in topo.layers if layer.kind == "conv"]
    assert len(convs) == len(topo.layers) == CONV_LAYERS[name]
    out = max(topo.nodes(), key=lambda n: n.order)  # the last node computes the logits
    classes = 19 if name == "fc_hardnet70" else 11
    shape = out.output_shape if hasattr(out, "output_shape") else (out.out_c, out.out_h, out.out_w)
    assert shape == (classes, h, w)


@pytest.mark.slow
def test_transposed_convs_become_stride1_convs_on_the_upsampled_grid():
    topo = _topology("fc_densenet103", 360, 480)
    transposed = [layer for layer in topo.layers if layer.transposed]
    assert len(transposed) == 5
    # 11x15 -> 23x31 (2H+1, cropped afterwards to the 22x30 skip); the new features of the bottleneck (15 x 16)
    first = transposed[0]
    assert (first.in_c, first.in_h, first.in_w, first.out_c, first.out_h, first.out_w) == (240, 11, 15, 240, 23, 31)
    assert first.macs == 11 * 15 * 240 * 240 * 9
    for layer in transposed:
        (row,) = layer_scalesim_rows(layer)
        assert row.stride == 1 and (row.out_h, row.out_w) == (layer.out_h, layer.out_w)
        assert (row.ifmap_h, row.ifmap_w) == (layer.out_h + 2, layer.out_w + 2)


@pytest.mark.slow
def test_segnet_unpooling_is_an_upsample_without_macs():
    topo = _topology("segnet", 360, 480)
    unpools = [op for op in topo.ops if op.kind == "upsample"]
    assert [op.output_shape for op in unpools] == [(512, 22, 30), (512, 45, 60), (256, 90, 120), (128, 180, 240),
                                                  (64, 360, 480)]
    assert not any(layer.transposed for layer in topo.layers)
    # unpooling adds no MAC layer: 13 encoder + 13 decoder convs, the classifier a 3x3 conv to 11 classes
    assert len(topo.layers) == 26 and topo.layers[-1].kernel_h == 3 and topo.layers[-1].out_c == 11


def test_fc_hardnet_down_blocks_keep_their_input():
    model = _build("fc_hardnet84")
    block = model.denseBlocksDown[0]
    # block input 32 channels + odd layers and the last (k=10, m=1.7, 4 layers: 10, 18, 10, 28 -> 10 + 10 + 28)
    assert block.keep_base and block.get_out_ch() == 32 + 10 + 10 + 28
    assert not model.bottleneck.keep_base
    assert [b.keep_base for b in model.denseBlocksUp] == [False, False, False, False, True]
