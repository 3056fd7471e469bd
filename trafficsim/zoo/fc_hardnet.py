"""FC-HarDNet segmentation networks (Chao et al., ICCV 2019).

FC-HarDNet-70 (Cityscapes, 19 classes) is exactly PingoLH/FCHarDNet ``ptsemseg/models/hardnet.py``: module paths
``base.*``, ``conv1x1_up.*``, ``denseBlocksUp.*``, ``finalConv``; 4,119,257 parameters.

FC-HarDNet-68/76/84 (CamVid, 11 classes) have no public code. They are rebuilt from the paper's Table 3 (first conv
width, six block depths and growth rates, m = 1.7) by putting HarDBlocks into the FC-DenseNet ("Tiramisu") frame,
which the paper says they derive from. The choices, each checked against the paper's Table 2 (params 1.4 / 3.5 /
8.4 M; CIO 473 / 932 / 1267 MiB at 352x480; "GMACs" 15 / 54 / 100, which are 2x our MACs for every FC network
including the FC-DenseNets, i.e. the table counts FLOPs):

1. first conv: one 3x3 ConvLayer (Conv-BN-ReLU), stride 1, with the "1st conv" width of Table 3 (8 / 24 / 32);
2. down path: 5 HarDBlocks (ReLU, m = 1.7) whose output keeps the block input (``keep_base=True``: the global dense
   connection of FC-DenseNet's down path); this output is the skip connection. Without it the parameters would be
   0.82 / 1.89 / 4.75 M instead of the published 1.4 / 3.5 / 8.4 M;
3. transition down: ConvLayer 1x1 with unchanged width, then MaxPool 2x2 (as FC-DenseNet);
4. bottleneck: the sixth HarDBlock, without ``keep_base`` (FC-DenseNet upsamples only the new features);
5. transition up: ConvTranspose2d 3x3 stride 2 (no padding, with bias, same width) on the previous block's output,
   centre-cropped to the skip and concatenated with it (exactly FC-DenseNet's transition up);
6. up path: the down-path blocks mirrored (depths and growth rates reversed), without ``keep_base``, except the
   last block, which keeps its input like FC-DenseNet's last up block (this adds ~8 % CIO: 451 / 890 / 1209 MiB
   without it, 489 / 962 / 1298 with it);
7. final 1x1 conv (with bias) to 11 classes.

The conv counts are then 68 / 76 / 84, the number in each name. Result at 352x480: 1,366,675 / 3,462,421 /
8,348,011 parameters; 2 x MACs = 15.3 / 53.7 / 100.5 G; CIO 489 / 962 / 1298 MiB (+3.3 / +3.2 / +2.4 % against
the paper; counting every conv but the first, the convention under which our FC-DenseNets match Table 2 within
0.4 %, it is 481 / 944 / 1275 MiB, +1.7 / +1.3 / +0.6 %).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import register_model
from .fc_densenet import CAMVID_CLASSES, center_crop, fc_forward
from .hardnet import ConvLayer, HarDBlock

__all__ = ["FCHarDNet", "FCHarDNet70", "FC_HARDNET_CONFIGS"]

# Table 3: name -> (1st conv width, block depths (5 down + bottleneck), growth rates, m)
FC_HARDNET_CONFIGS: dict[int, tuple[int, tuple[int, ...], tuple[int, ...], float]] = {
    68: (8, (4, 4, 4, 4, 8, 8), (4, 6, 8, 8, 10, 10), 1.7),
    76: (24, (4, 4, 4, 8, 8, 8), (8, 10, 12, 12, 12, 14), 1.7),
    84: (32, (4, 4, 8, 8, 8, 8), (10, 12, 14, 16, 20, 22), 1.7),
}


class TransitionDown(nn.Sequential):
    """ConvLayer 1x1 (same width, Conv-BN-ReLU) -> MaxPool 2x2."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.add_module("conv", ConvLayer(channels, channels, kernel=1, act_layer=nn.ReLU))
        self.add_module("pool", nn.MaxPool2d(2))


class TransitionUp(nn.Module):
    """ConvTranspose2d 3x3 stride 2 (no padding), centre-cropped to the skip, concatenated with it."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.convTrans = nn.ConvTranspose2d(channels, channels, kernel_size=3, stride=2, padding=0, bias=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        out = center_crop(self.convTrans(x), skip.size(2), skip.size(3))
        return torch.cat([out, skip], 1)


class FCHarDNet(nn.Module):
    """FC-DenseNet frame with HarDBlocks (FC-HarDNet-68/76/84); see the module docstring for every choice."""

    def __init__(self, first_ch: int, depths: tuple[int, ...], growth_rates: tuple[int, ...], grmul: float = 1.7,
                 num_classes: int = CAMVID_CLASSES, in_channels: int = 3) -> None:
        super().__init__()
        if len(depths) != len(growth_rates) or len(depths) < 2:
            raise ValueError("depths and growth_rates need one entry per level (down blocks + bottleneck)")
        n_down = len(depths) - 1
        self.firstconv = ConvLayer(in_channels, first_ch, kernel=3, act_layer=nn.ReLU)
        ch = first_ch
        skip_channels: list[int] = []
        self.denseBlocksDown = nn.ModuleList()
        self.transDownBlocks = nn.ModuleList()
        for i in range(n_down):
            block = HarDBlock(ch, growth_rates[i], grmul, depths[i], keep_base=True, act_layer=nn.ReLU)
            self.denseBlocksDown.append(block)
            ch = block.get_out_ch()
            skip_channels.append(ch)
            self.transDownBlocks.append(TransitionDown(ch))
        self.bottleneck = HarDBlock(ch, growth_rates[-1], grmul, depths[-1], act_layer=nn.ReLU)
        ch = self.bottleneck.get_out_ch()
        self.transUpBlocks = nn.ModuleList()
        self.denseBlocksUp = nn.ModuleList()
        for i in reversed(range(n_down)):
            self.transUpBlocks.append(TransitionUp(ch))
            block = HarDBlock(ch + skip_channels[i], growth_rates[i], grmul, depths[i], keep_base=i == 0,
                              act_layer=nn.ReLU)
            self.denseBlocksUp.append(block)
            ch = block.get_out_ch()
        self.finalConv = nn.Conv2d(ch, num_classes, kernel_size=1, stride=1, padding=0, bias=True)

    forward = fc_forward


class _BilinearUp(nn.Module):
    """FCHarDNet's TransitionUp: bilinear resize to the skip (align_corners=True), concatenated with it."""

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(x, size=(skip.size(2), skip.size(3)), mode="bilinear", align_corners=True)
        return torch.cat([out, skip], 1)


class FCHarDNet70(nn.Module):
    """FC-HarDNet-70 exactly as PingoLH/FCHarDNet (Cityscapes): 4-conv stem, 5 HarDBlocks with 1x1 transitions and
    AvgPool, a decoder of bilinear upsampling + skip concat + 1x1 ConvLayer (halving) + HarDBlock, final 1x1 conv."""

    def __init__(self, num_classes: int = 19) -> None:
        super().__init__()
        first_ch = [16, 24, 32, 48]
        ch_list = [64, 96, 160, 224, 320]
        grmul = 1.7
        gr = [10, 16, 18, 24, 32]
        n_layers = [4, 4, 8, 8, 8]
        blocks = len(n_layers)
        self.shortcut_layers: list[int] = []
        relu = nn.ReLU
        self.base = nn.ModuleList([
            ConvLayer(3, first_ch[0], kernel=3, stride=2, act_layer=relu),
            ConvLayer(first_ch[0], first_ch[1], kernel=3, act_layer=relu),
            ConvLayer(first_ch[1], first_ch[2], kernel=3, stride=2, act_layer=relu),
            ConvLayer(first_ch[2], first_ch[3], kernel=3, act_layer=relu),
        ])
        skip_channels = []
        ch = first_ch[3]
        for i in range(blocks):
            block = HarDBlock(ch, gr[i], grmul, n_layers[i], act_layer=relu)
            ch = block.get_out_ch()
            skip_channels.append(ch)
            self.base.append(block)
            if i < blocks - 1:
                self.shortcut_layers.append(len(self.base) - 1)
            self.base.append(ConvLayer(ch, ch_list[i], kernel=1, act_layer=relu))
            ch = ch_list[i]
            if i < blocks - 1:
                self.base.append(nn.AvgPool2d(kernel_size=2, stride=2))
        self.n_blocks = blocks - 1
        self.transUpBlocks = nn.ModuleList()
        self.denseBlocksUp = nn.ModuleList()
        self.conv1x1_up = nn.ModuleList()
        prev = ch
        for i in range(self.n_blocks - 1, -1, -1):
            self.transUpBlocks.append(_BilinearUp())
            cur = prev + skip_channels[i]
            self.conv1x1_up.append(ConvLayer(cur, cur // 2, kernel=1, act_layer=relu))
            block = HarDBlock(cur // 2, gr[i], grmul, n_layers[i], act_layer=relu)
            self.denseBlocksUp.append(block)
            prev = block.get_out_ch()
        self.finalConv = nn.Conv2d(prev, num_classes, kernel_size=1, stride=1, padding=0, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size_in = x.size()
        skips = []
        for i, layer in enumerate(self.base):
            x = layer(x)
            if i in self.shortcut_layers:
                skips.append(x)
        out = x
        for i in range(self.n_blocks):
            out = self.transUpBlocks[i](out, skips.pop())
            out = self.conv1x1_up[i](out)
            out = self.denseBlocksUp[i](out)
        out = self.finalConv(out)
        return F.interpolate(out, size=(size_in[2], size_in[3]), mode="bilinear", align_corners=True)


def _fc_hardnet(arch: int, num_classes: int, **kwargs) -> FCHarDNet:
    first_ch, depths, growth_rates, grmul = FC_HARDNET_CONFIGS[arch]
    return FCHarDNet(first_ch, depths, growth_rates, grmul, num_classes=num_classes, **kwargs)


@register_model
def fc_hardnet68(num_classes: int = CAMVID_CLASSES, **kwargs) -> FCHarDNet:
    """FC-HarDNet-68 (CamVid, rebuilt from Table 3): 1,366,675 parameters with 11 classes."""
    return _fc_hardnet(68, num_classes, **kwargs)


@register_model
def fc_hardnet76(num_classes: int = CAMVID_CLASSES, **kwargs) -> FCHarDNet:
    """FC-HarDNet-76 (CamVid, rebuilt from Table 3): 3,462,421 parameters with 11 classes."""
    return _fc_hardnet(76, num_classes, **kwargs)


@register_model
def fc_hardnet84(num_classes: int = CAMVID_CLASSES, **kwargs) -> FCHarDNet:
    """FC-HarDNet-84 (CamVid, rebuilt from Table 3): 8,348,011 parameters with 11 classes."""
    return _fc_hardnet(84, num_classes, **kwargs)


@register_model
def fc_hardnet70(num_classes: int = 19, **kwargs) -> FCHarDNet70:
    """FC-HarDNet-70 (PingoLH/FCHarDNet, Cityscapes): 4,119,257 parameters with 19 classes."""
    return FCHarDNet70(num_classes=num_classes, **kwargs)
