"""FC-DenseNet ("The One Hundred Layers Tiramisu", Jégou et al., CVPRW 2017) for CamVid segmentation.

Layout of the authors' Lasagne code and of the common PyTorch port (bfortuner/pytorch_tiramisu); module paths
follow the port (``firstconv``, ``denseBlocksDown.0.layers.3.conv``, ``transDownBlocks.0.conv``, ``bottleneck``,
``transUpBlocks.0.convTrans``, ``denseBlocksUp.0``, ``finalConv``):

* first conv: 3x3, 48 channels, stride 1 (with bias);
* dense layer: BN-ReLU-Conv3x3(k, with bias)-Dropout(0.2), on the concatenation of the block input and all earlier
  layers of the block;
* down path: a dense block's output is its input concatenated with its new features (the skip connection), then
  transition down = BN-ReLU-Conv1x1 (same width)-Dropout-MaxPool2x2;
* bottleneck: a dense block whose output is only its new features;
* transition up: a 3x3 stride-2 ConvTranspose2d (no padding, so 2H+1) on the *new features* of the previous block
  only, centre-cropped to the skip's size, then concatenated with the skip;
* up path: dense blocks that output only their new features, except the last, which outputs everything;
* final 1x1 conv to the classes (11 CamVid classes, as in both papers; the void label is ignored).

Published parameter counts: 56: 1.5 M (Jégou) / 1.4 M (HarDNet Table 2), 67: 3.5 M, 103: 9.4 M.
"""
from __future__ import annotations

import torch
from torch import nn

from . import register_model

__all__ = ["DenseLayer", "DenseBlock", "TransitionDown", "TransitionUp", "FCDenseNet", "center_crop"]

CAMVID_CLASSES = 11


class DenseLayer(nn.Sequential):
    """BN -> ReLU -> Conv3x3 (growth_rate, with bias) -> Dropout(0.2)."""

    def __init__(self, in_channels: int, growth_rate: int, drop_rate: float = 0.2) -> None:
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(in_channels))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(in_channels, growth_rate, kernel_size=3, stride=1, padding=1, bias=True))
        self.add_module("drop", nn.Dropout2d(drop_rate))


class DenseBlock(nn.Module):
    """``n_layers`` dense layers; with ``upsample`` the output is only the new features, else input + new features."""

    def __init__(self, in_channels: int, growth_rate: int, n_layers: int, upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.layers = nn.ModuleList([DenseLayer(in_channels + i * growth_rate, growth_rate)
                                     for i in range(n_layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new_features = []
        for layer in self.layers:
            out = layer(x)
            x = torch.cat([x, out], 1)
            new_features.append(out)
        if self.upsample:
            return torch.cat(new_features, 1)
        return x


class TransitionDown(nn.Sequential):
    """BN -> ReLU -> Conv1x1 (same width, with bias) -> Dropout(0.2) -> MaxPool 2x2."""

    def __init__(self, in_channels: int, drop_rate: float = 0.2) -> None:
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(in_channels))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(in_channels, in_channels, kernel_size=1, stride=1, padding=0, bias=True))
        self.add_module("drop", nn.Dropout2d(drop_rate))
        self.add_module("maxpool", nn.MaxPool2d(2))


def center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The centre ``height`` x ``width`` window of a feature map (Lasagne's 'center' cropping)."""
    _, _, h, w = x.size()
    top, left = (h - height) // 2, (w - width) // 2
    return x[:, :, top:top + height, left:left + width]


class TransitionUp(nn.Module):
    """ConvTranspose2d 3x3 stride 2 (no padding, with bias), centre-cropped to the skip, concatenated with it."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.convTrans = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=3, stride=2, padding=0, bias=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        out = center_crop(self.convTrans(x), skip.size(2), skip.size(3))
        return torch.cat([out, skip], 1)


def fc_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The Tiramisu U-shape shared by FC-DenseNet and FC-HarDNet: first conv, blocks down (each
    output kept as a skip) with transitions down, bottleneck, then transitions up that join the
    matching skip, blocks up, final 1x1 conv."""
    out = self.firstconv(x)
    skips = []
    for block, down in zip(self.denseBlocksDown, self.transDownBlocks):
        out = block(out)
        skips.append(out)
        out = down(out)
    out = self.bottleneck(out)
    for up, block in zip(self.transUpBlocks, self.denseBlocksUp):
        out = block(up(out, skips.pop()))
    return self.finalConv(out)


class FCDenseNet(nn.Module):
    """Fully convolutional DenseNet: first conv, dense blocks with transitions down, a bottleneck block, and
    transitions up + dense blocks back to full resolution."""

    def __init__(self, in_channels: int = 3, down_blocks: tuple[int, ...] = (5, 5, 5, 5, 5),
                 up_blocks: tuple[int, ...] = (5, 5, 5, 5, 5), bottleneck_layers: int = 5, growth_rate: int = 16,
                 out_chans_first_conv: int = 48, num_classes: int = CAMVID_CLASSES) -> None:
        super().__init__()
        self.down_blocks = down_blocks
        self.up_blocks = up_blocks
        self.firstconv = nn.Conv2d(in_channels, out_chans_first_conv, kernel_size=3, stride=1, padding=1, bias=True)
        channels = out_chans_first_conv
        skip_channels: list[int] = []

        self.denseBlocksDown = nn.ModuleList()
        self.transDownBlocks = nn.ModuleList()
        for n_layers in down_blocks:
            self.denseBlocksDown.append(DenseBlock(channels, growth_rate, n_layers))
            channels += growth_rate * n_layers
            skip_channels.insert(0, channels)
            self.transDownBlocks.append(TransitionDown(channels))

        self.bottleneck = DenseBlock(channels, growth_rate, bottleneck_layers, upsample=True)
        prev_block_channels = growth_rate * bottleneck_layers

        self.transUpBlocks = nn.ModuleList()
        self.denseBlocksUp = nn.ModuleList()
        for i, n_layers in enumerate(up_blocks):
            last = i == len(up_blocks) - 1
            self.transUpBlocks.append(TransitionUp(prev_block_channels, prev_block_channels))
            channels = prev_block_channels + skip_channels[i]
            self.denseBlocksUp.append(DenseBlock(channels, growth_rate, n_layers, upsample=not last))
            prev_block_channels = growth_rate * n_layers
            channels += prev_block_channels

        self.finalConv = nn.Conv2d(channels, num_classes, kernel_size=1, stride=1, padding=0, bias=True)

    forward = fc_forward


@register_model
def fc_densenet56(num_classes: int = CAMVID_CLASSES, **kwargs) -> FCDenseNet:
    """FC-DenseNet56: k=12, 4 layers per block (5 down, bottleneck, 5 up); ~1.4 M parameters."""
    return FCDenseNet(down_blocks=(4,) * 5, up_blocks=(4,) * 5, bottleneck_layers=4, growth_rate=12,
                      num_classes=num_classes, **kwargs)


@register_model
def fc_densenet67(num_classes: int = CAMVID_CLASSES, **kwargs) -> FCDenseNet:
    """FC-DenseNet67: k=16, 5 layers per block; ~3.5 M parameters."""
    return FCDenseNet(down_blocks=(5,) * 5, up_blocks=(5,) * 5, bottleneck_layers=5, growth_rate=16,
                      num_classes=num_classes, **kwargs)


@register_model
def fc_densenet103(num_classes: int = CAMVID_CLASSES, **kwargs) -> FCDenseNet:
    """FC-DenseNet103: k=16, blocks 4,5,7,10,12 down, 15 bottleneck, 12,10,7,5,4 up; ~9.4 M parameters."""
    return FCDenseNet(down_blocks=(4, 5, 7, 10, 12), up_blocks=(12, 10, 7, 5, 4), bottleneck_layers=15,
                      growth_rate=16, num_classes=num_classes, **kwargs)
