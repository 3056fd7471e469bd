"""AlexNet as Krizhevsky, Sutskever and Hinton trained it (NIPS 2012), in Caffe's ``bvlc_alexnet`` layout.

This is the *original* network, not torchvision's single-tower variant: 96 filters of 11x11/4 in conv1, the two
GPU towers kept as **2 groups** in conv2, conv4 and conv5, local response normalisation after conv1 and conv2, and
a 227x227 input (so that conv1 yields 55x55). It is the network the Eyeriss chip was measured on (Chen et al.,
IEEE JSSC 52(1), 2017, Table V): its five CONV layers do 665,784,864 MACs per image, 2.663 G at batch 4.

Names follow Caffe's ``conv1``...``fc8`` (``features.N`` / ``classifier.N`` as in torchvision's layout).
60,965,224 parameters (Caffe's count: conv and FC weights and biases; LRN has none).
"""
from __future__ import annotations

import torch
from torch import nn

from . import register_model

__all__ = ["AlexNet"]


class AlexNet(nn.Module):
    """Five convs (conv2/4/5 in 2 groups), LRN after conv1 and conv2, three 3x3/2 max-pools, three FC layers.

    The classifier expects the 6x6x256 map a 227x227 input produces; there is no adaptive pooling (the
    original has none), so other input sizes work only for the convolutional trunk (``features``).
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        # LRN as in the paper (section 3.3): n = 5, alpha = 1e-4, beta = 0.75, k = 2
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4),              # conv1: 227 -> 55
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
            nn.MaxPool2d(kernel_size=3, stride=2),                    # 55 -> 27
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2),   # conv2
            nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
            nn.MaxPool2d(kernel_size=3, stride=2),                    # 27 -> 13
            nn.Conv2d(256, 384, kernel_size=3, padding=1),            # conv3
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2),  # conv4
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2),  # conv5
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                    # 13 -> 6
        )
        self.classifier = nn.Sequential(
            nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),   # fc6
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),          # fc7
            nn.Linear(4096, num_classes),                                                 # fc8
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@register_model
def alexnet(num_classes: int = 1000) -> AlexNet:
    """The original grouped AlexNet (Caffe bvlc_alexnet), 227x227 input: 60,965,224 parameters."""
    return AlexNet(num_classes=num_classes)
