"""HarDNet (Chao et al., ICCV 2019), exactly as PingoLH/Pytorch-HarDNet ``hardnet.py`` (commit 3555448).

Module paths follow the reference (``base.0`` stem conv, ``base.3`` first HarDBlock, ``base.3.layers.5``,
``base.4`` its transition, ...), so pretrained state dicts and HarDNet-MSEG tap indices line up.
The classification networks use ReLU6 like the reference; FC-HarDNet (segmentation) reuses these blocks with ReLU.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError
from . import register_model

__all__ = ["ConvLayer", "DWConvLayer", "CombConvLayer", "HarDBlock", "HarDNet", "get_link"]


class ConvLayer(nn.Sequential):
    """Conv(k x k, no bias) -> BN -> activation (ReLU6 by default, as in the ImageNet reference)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1,
                 act_layer: type[nn.Module] = nn.ReLU6) -> None:
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel_size=kernel, stride=stride,
                                          padding=kernel // 2, bias=False))
        self.add_module("norm", nn.BatchNorm2d(out_channels))
        self.add_module("relu", act_layer(inplace=True))


class DWConvLayer(nn.Sequential):
    """Depth-wise 3x3 conv -> BN, with no activation (``out_channels`` is ignored, as in the reference)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.add_module("dwconv", nn.Conv2d(in_channels, in_channels, kernel_size=3, stride=stride, padding=1,
                                            groups=in_channels, bias=False))
        self.add_module("norm", nn.BatchNorm2d(in_channels))


class CombConvLayer(nn.Sequential):
    """The DS block layer: point-wise ConvLayer first, then a depth-wise 3x3 (the order matters for CIO)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1,
                 act_layer: type[nn.Module] = nn.ReLU6) -> None:
        super().__init__()
        self.add_module("layer1", ConvLayer(in_channels, out_channels, kernel, act_layer=act_layer))
        self.add_module("layer2", DWConvLayer(out_channels, out_channels, stride=stride))


def get_link(layer: int, base_ch: int, growth_rate: float, grmul: float) -> tuple[int, int, list[int]]:
    """HarDBlock connectivity of block layer ``layer`` (0 is the block input): (out_ch, in_ch, linked layers).

    Layer L links to L - 2**i for every 2**i dividing L, most recent first; its width is
    growth_rate * grmul**n rounded to an even integer, with the reference's sequential float multiply.
    """
    if layer == 0:
        return base_ch, 0, []
    out_channels: float = growth_rate
    link = []
    for i in range(10):
        dv = 2 ** i
        if layer % dv == 0:
            link.append(layer - dv)
            if i > 0:
                out_channels *= grmul  # sequential multiply: 14*1.7*1.7 != 14*1.7**2 in floats
    out_channels = int(int(out_channels + 1) / 2) * 2
    in_channels = sum(get_link(i, base_ch, growth_rate, grmul)[0] for i in link)
    return out_channels, in_channels, link


class HarDBlock(nn.Module):
    """Harmonic dense block: output is the concatenation of the odd layers and the last layer.

    ``keep_base`` also passes the block input through (not used by any released model).
    """

    def __init__(self, in_channels: int, growth_rate: float, grmul: float, n_layers: int,
                 keep_base: bool = False, dwconv: bool = False,
                 act_layer: type[nn.Module] = nn.ReLU6) -> None:
        super().__init__()
        self.keep_base = keep_base
        self.links: list[list[int]] = []
        layers = []
        self.out_channels = in_channels if keep_base else 0
        for i in range(n_layers):
            out_ch, in_ch, link = get_link(i + 1, in_channels, growth_rate, grmul)
            self.links.append(link)
            if dwconv:
                layers.append(CombConvLayer(in_ch, out_ch, act_layer=act_layer))
            else:
                layers.append(ConvLayer(in_ch, out_ch, act_layer=act_layer))
            if i % 2 == 0 or i == n_layers - 1:
                self.out_channels += out_ch
        self.layers = nn.ModuleList(layers)

    def get_out_ch(self) -> int:
        """Channels of the block output (reference API name)."""
        return self.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for layer, link in zip(self.layers, self.links):
            inputs = [outputs[i] for i in link]
            outputs.append(layer(torch.cat(inputs, 1) if len(inputs) > 1 else inputs[0]))
        last = len(outputs) - 1
        kept = [t for i, t in enumerate(outputs)
                if (i == 0 and self.keep_base) or i == last or i % 2 == 1]
        return torch.cat(kept, 1)


# arch -> (first_ch, grmul, growth rates, layers per block, transition widths, downsample after block, drop)
_CONFIGS: dict[int, tuple[list[int], float, list[int], list[int], list[int], list[int], float]] = {
    68: ([32, 64], 1.7, [14, 16, 20, 40, 160], [8, 16, 16, 16, 4], [128, 256, 320, 640, 1024],
         [1, 0, 1, 1, 0], 0.1),
    85: ([48, 96], 1.7, [24, 24, 28, 36, 48, 256], [8, 16, 16, 16, 16, 4], [192, 256, 320, 480, 720, 1280],
         [1, 0, 1, 0, 1, 0], 0.2),
    39: ([24, 48], 1.6, [16, 20, 64, 160], [4, 16, 8, 4], [96, 320, 640, 1024], [1, 1, 1, 0], 0.1),
}


class HarDNet(nn.Module):
    """HarDNet-39/68/85, optionally depth-wise separable (DS): 1x1 second stem conv, CombConv block layers,
    and stride-2 depth-wise convs instead of max-pooling. All stages live in ``self.base`` as in the reference."""

    def __init__(self, arch: int = 68, depth_wise: bool = False, num_classes: int = 1000,
                 drop_rate: float | None = None) -> None:
        super().__init__()
        if arch not in _CONFIGS:
            raise InputError(f"HarDNet arch must be one of {sorted(_CONFIGS)}, not {arch}")
        first_ch, grmul, gr, n_layers, ch_list, down_samp, default_drop = _CONFIGS[arch]
        second_kernel, max_pool = 3, True
        if depth_wise:
            second_kernel, max_pool, default_drop = 1, False, 0.05
        drop_rate = default_drop if drop_rate is None else drop_rate
        blocks = len(n_layers)

        self.base = nn.ModuleList()
        self.base.append(ConvLayer(3, first_ch[0], kernel=3, stride=2))
        self.base.append(ConvLayer(first_ch[0], first_ch[1], kernel=second_kernel))
        if max_pool:
            self.base.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        else:
            self.base.append(DWConvLayer(first_ch[1], first_ch[1], stride=2))
        ch = first_ch[1]
        for i in range(blocks):
            block = HarDBlock(ch, gr[i], grmul, n_layers[i], dwconv=depth_wise)
            self.base.append(block)
            if i == blocks - 1 and arch == 85:
                self.base.append(nn.Dropout(0.1))
            self.base.append(ConvLayer(block.get_out_ch(), ch_list[i], kernel=1))
            ch = ch_list[i]
            if down_samp[i]:
                if max_pool:
                    self.base.append(nn.MaxPool2d(kernel_size=2, stride=2))
                else:
                    self.base.append(DWConvLayer(ch, ch, stride=2))
        self.base.append(nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Dropout(drop_rate),
                                       nn.Linear(ch, num_classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.base:
            x = layer(x)
        return x


@register_model
def hardnet39ds(num_classes: int = 1000, drop_rate: float | None = None) -> HarDNet:
    """HarDNet-39DS: 3,488,228 parameters, 0.43 GMACs at 224x224."""
    return HarDNet(arch=39, depth_wise=True, num_classes=num_classes, drop_rate=drop_rate)


@register_model
def hardnet68(num_classes: int = 1000, depth_wise: bool = False, drop_rate: float | None = None) -> HarDNet:
    """HarDNet-68: 17,565,348 parameters, 4.25 GMACs at 224x224 (``depth_wise=True`` gives HarDNet-68DS)."""
    return HarDNet(arch=68, depth_wise=depth_wise, num_classes=num_classes, drop_rate=drop_rate)


@register_model
def hardnet68ds(num_classes: int = 1000, drop_rate: float | None = None) -> HarDNet:
    """HarDNet-68DS: 4,180,602 parameters, 0.77 GMACs at 224x224."""
    return HarDNet(arch=68, depth_wise=True, num_classes=num_classes, drop_rate=drop_rate)


@register_model
def hardnet85(num_classes: int = 1000, depth_wise: bool = False, drop_rate: float | None = None) -> HarDNet:
    """HarDNet-85: 36,670,212 parameters, 9.07 GMACs at 224x224."""
    return HarDNet(arch=85, depth_wise=depth_wise, num_classes=num_classes, drop_rate=drop_rate)
