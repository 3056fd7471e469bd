"""SegNet (Badrinarayanan, Kendall and Cipolla, TPAMI 2017) for CamVid (11 classes, 360x480).

Encoder: the 13 convs of VGG-16 with BN (Conv3x3-BN-ReLU), each stage ending in MaxPool 2x2 that keeps its indices.
Decoder: the mirror image; each stage starts with MaxUnpool 2x2 (the encoder's indices; no MACs, recorded by the
converter as an upsample), then Conv3x3-BN-ReLU layers going back down in width, as in the authors' Caffe
``segnet_train.prototxt``: 512,512,512 | 512,512,256 | 256,256,128 | 128,64 | 64, then a 3x3 conv to the classes
(no BN or ReLU; the softmax is not a layer here). 29.4 M parameters (Table 2 of the HarDNet paper: 29.5 M).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import register_model
from .fc_densenet import CAMVID_CLASSES

__all__ = ["SegNet"]

# channels of the convs of each encoder stage (VGG-16); the decoder mirrors them
_ENCODER = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class SegNet(nn.Module):
    """VGG-16-BN encoder with pooling indices, max-unpooling decoder, final 3x3 conv to ``num_classes``."""

    def __init__(self, num_classes: int = CAMVID_CLASSES, in_channels: int = 3) -> None:
        super().__init__()
        self.encoder = nn.ModuleList()
        ch = in_channels
        for widths in _ENCODER:
            stage = []
            for w in widths:
                stage.append(_conv_bn_relu(ch, w))
                ch = w
            self.encoder.append(nn.Sequential(*stage))
        self.decoder = nn.ModuleList()
        for s, widths in enumerate(reversed(_ENCODER)):
            # a decoder stage keeps its encoder stage's width and drops to the next stage's width in its last conv
            outs = list(widths[1:]) + [_ENCODER[len(_ENCODER) - 2 - s][-1] if s < len(_ENCODER) - 1 else None]
            stage = []
            for w in outs:
                if w is None:  # the classifier: a plain 3x3 conv
                    stage.append(nn.Conv2d(ch, num_classes, kernel_size=3, padding=1))
                else:
                    stage.append(_conv_bn_relu(ch, w))
                    ch = w
            self.decoder.append(nn.Sequential(*stage))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        indices, sizes = [], []
        for stage in self.encoder:
            x = stage(x)
            sizes.append(x.size())
            x, idx = F.max_pool2d(x, kernel_size=2, stride=2, return_indices=True)
            indices.append(idx)
        for stage in self.decoder:
            x = F.max_unpool2d(x, indices.pop(), kernel_size=2, stride=2, output_size=sizes.pop()[2:])
            x = stage(x)
        return x


@register_model
def segnet(num_classes: int = CAMVID_CLASSES, **kwargs) -> SegNet:
    """SegNet with a VGG-16-BN encoder (CamVid, 11 classes): 29.4 M parameters."""
    return SegNet(num_classes=num_classes, **kwargs)
