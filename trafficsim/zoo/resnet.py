"""ResNet in torchvision's layout (``conv1``, ``layer1.0.conv2``, ``layer2.0.downsample.0``, ``fc``).

Two bottleneck variants:
- ``resnet50/101/152``: torchvision's "v1.5", stride 2 on the 3x3 conv of a downsampling bottleneck;
- ``resnet50_v1/101_v1/152_v1``: the original v1 (He et al. 2016, Caffe models), stride 2 on the first 1x1 conv.
  The HarDNet paper's CIO numbers match this layout. Parameter counts are the same for both.
ResNet-18/34 (basic blocks) have only one layout.
"""
from __future__ import annotations

import torch
from torch import nn

from . import register_model

__all__ = ["BasicBlock", "Bottleneck", "ResNet"]


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 stride_on_1x1: bool = False) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 -> 1x1 expand (x4) with a residual connection (ResNet-50/101/152).

    ``stride_on_1x1`` puts the block's stride on ``conv1`` (original v1) instead of ``conv2`` (torchvision v1.5).
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 stride_on_1x1: bool = False) -> None:
        super().__init__()
        stride_1x1, stride_3x3 = (stride, 1) if stride_on_1x1 else (1, stride)
        self.conv1 = _conv1x1(inplanes, planes, stride_1x1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride_3x3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet: 7x7/2 stem, 3x3/2 max-pool, four stages (64..512 planes), avg-pool, FC."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int], num_classes: int = 1000,
                 stride_on_1x1: bool = False) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], 1, stride_on_1x1)
        self.layer2 = self._make_layer(block, 128, layers[1], 2, stride_on_1x1)
        self.layer3 = self._make_layer(block, 256, layers[2], 2, stride_on_1x1)
        self.layer4 = self._make_layer(block, 512, layers[3], 2, stride_on_1x1)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int, stride: int,
                    stride_on_1x1: bool) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(_conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, stride_on_1x1)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, stride_on_1x1=stride_on_1x1) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model
def resnet18(num_classes: int = 1000) -> ResNet:
    """ResNet-18: 11,689,512 parameters."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


@register_model
def resnet34(num_classes: int = 1000) -> ResNet:
    """ResNet-34: 21,797,672 parameters."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes)


@register_model
def resnet50(num_classes: int = 1000) -> ResNet:
    """ResNet-50, torchvision v1.5 (stride on the 3x3): 25,557,032 parameters."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


@register_model
def resnet101(num_classes: int = 1000) -> ResNet:
    """ResNet-101, torchvision v1.5 (stride on the 3x3): 44,549,160 parameters."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes)


@register_model
def resnet152(num_classes: int = 1000) -> ResNet:
    """ResNet-152, torchvision v1.5 (stride on the 3x3): 60,192,808 parameters."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes)


@register_model
def resnet50_v1(num_classes: int = 1000) -> ResNet:
    """ResNet-50, original v1 (stride on the first 1x1), the layout of the HarDNet paper's CIO."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, stride_on_1x1=True)


@register_model
def resnet101_v1(num_classes: int = 1000) -> ResNet:
    """ResNet-101, original v1 (stride on the first 1x1)."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, stride_on_1x1=True)


@register_model
def resnet152_v1(num_classes: int = 1000) -> ResNet:
    """ResNet-152, original v1 (stride on the first 1x1)."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes, stride_on_1x1=True)
