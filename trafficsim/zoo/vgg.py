"""VGG-16 (configuration D, no batch norm) in torchvision's layout (``features.N``, ``classifier.N``)."""
from __future__ import annotations

import torch
from torch import nn

from . import register_model

__all__ = ["VGG", "make_vgg_features"]

# channel widths of the 3x3 convs; "M" is a 2x2/2 max-pool
_CFG_D: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def make_vgg_features(cfg: list[int | str], batch_norm: bool = False) -> nn.Sequential:
    """The convolutional trunk: 3x3 same-padding convs with bias and ReLU, and max-pools at each "M"."""
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        assert isinstance(v, int)
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """torchvision's VGG: conv trunk, AdaptiveAvgPool 7x7, then FC 25088 -> 4096 -> 4096 -> classes."""

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@register_model
def vgg16(num_classes: int = 1000) -> VGG:
    """VGG-16 (13 convs + 3 FC): 138,357,544 parameters."""
    return VGG(make_vgg_features(_CFG_D), num_classes=num_classes)
