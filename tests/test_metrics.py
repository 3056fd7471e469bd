"""Params, MACs, CIO and MoC against the HarDNet paper's Table 4 (Chao et al., ICCV 2019), and the rule
that leaves stand-alone stride-2 depthwise downsamplers out of the paper's CIO."""
from __future__ import annotations

import pytest

from trafficsim.metrics import cio, layer_metrics, macs, model_metrics, params
from trafficsim.topology import Layer, Topology
from trafficsim.zoo.cache import model_topology

# Table 4 of the HarDNet paper: CIO in millions of elements at 224x224
TABLE4_CIO_M = {
    "hardnet39ds": 8.2, "hardnet68ds": 15.3, "hardnet68": 11.5, "mobilenet_v2": 13.4, "resnet18": 4.7,
    "resnet50_v1": 20.7, "resnet101_v1": 30.9, "resnet152_v1": 43.6, "densenet121": 21.9, "densenet201": 31.8,
    "vgg16": 22.6,
}
# GMACs: the paper's (README's) rounded values, resnet50 in torchvision's layout
TABLE4_GMACS = {"hardnet68": 4.3, "resnet50": 4.1, "densenet121": 2.9}


@pytest.mark.parametrize("name", sorted(TABLE4_CIO_M))
def test_table4_cio(name):
    t = model_topology(name)
    assert cio(t) / 1e6 == pytest.approx(TABLE4_CIO_M[name], abs=0.06)


@pytest.mark.parametrize("name", sorted(TABLE4_GMACS))
def test_table4_macs(name):
    assert macs(model_topology(name)) / 1e9 == pytest.approx(TABLE4_GMACS[name], abs=0.1)


def test_exact_derived_values():
    # derived from the paper's conventions: exact counts pin the conventions down beyond Table 4's rounding
    assert cio(model_topology("hardnet68")) == pytest.approx(11.469e6, abs=1e3)
    assert cio(model_topology("hardnet39ds")) == pytest.approx(8.219e6, abs=1e3)
    assert cio(model_topology("hardnet39ds"), paper=False) == pytest.approx(9.818e6, abs=1e3)
    assert cio(model_topology("hardnet68ds"), paper=False) == pytest.approx(17.324e6, abs=1e3)
    assert cio(model_topology("resnet50")) == pytest.approx(21.776e6, abs=1e3)  # torchvision v1.5
    assert params(model_topology("hardnet68")) == 17_565_348
    assert params(model_topology("densenet121")) == 7_978_856
    # MobileNetV2's stride-2 depthwise convs sit inside inverted residuals: all of them count
    mb = model_topology("mobilenet_v2")
    assert cio(mb) == cio(mb, paper=False)


def _dw_net(reused: bool) -> Topology:
    """1x1 conv -> stride-2 depthwise -> 1x1 conv, where the depthwise output is (or is not) also
    read by a second node, as a HarDBlock input is."""
    pw = Layer("pw", "conv", 8, 16, 16, 16, 16, 16, inputs=(0,), output=1, order=0)
    dw = Layer("dw", "dwconv", 16, 16, 16, 16, 8, 8, 3, 3, 2, 2, 1, 1, groups=16, inputs=(1,), output=2, order=1)
    proj = Layer("proj", "conv", 16, 8, 8, 8, 8, 8, inputs=(2,), output=3, order=2)
    layers = [pw, dw, proj]
    if reused:
        layers.append(Layer("next", "conv", 16, 8, 8, 4, 8, 8, 3, 3, pad_h=1, pad_w=1, inputs=(2,), output=4, order=3))
    return Topology("dw", tuple(layers), input_shape=(8, 16, 16))


def test_standalone_downsampler_rule():
    unit = _dw_net(reused=False)
    assert cio(unit) == cio(unit, paper=False) == sum(layer.cio for layer in unit.layers)
    hub = _dw_net(reused=True)
    dw = hub.layers[1]
    assert cio(hub, paper=False) - cio(hub) == dw.cio
    rows = layer_metrics(hub)
    assert [r["cio"] == 0 for r in rows] == [False, True, False, False]
    assert rows[1]["moc"] is None and rows[0]["moc"] == pytest.approx(unit.layers[0].macs / unit.layers[0].cio)


def test_linear_and_csv_layers():
    fc = Layer("fc", "linear", 512, 1, 1, 1000, 1, 1, inputs=(0,), output=1, order=0)
    conv = Layer("c", "conv", 3, 8, 8, 4, 6, 6, 3, 3, order=1)  # as read from a CSV: no graph
    t = Topology("x", (fc, conv))
    assert cio(t) == conv.cio  # linear layers never count
    assert macs(t) == 512 * 1000 + 36 * 27 * 4
    assert params(t) == 512 * 1000 + 4 * 27  # no torch count: weights only
    m = model_metrics(t)
    assert (m["layers"], m["cio"], m["macs"]) == (2, conv.cio, macs(t))
    assert m["moc"] == pytest.approx(macs(t) / conv.cio)
    rows = layer_metrics(t)
    assert rows[0]["kind"] == "linear" and rows[0]["cio"] == 0 and rows[1]["in_shape"] == [3, 8, 8]
