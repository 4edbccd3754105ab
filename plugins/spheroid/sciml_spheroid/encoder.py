"""ResNet-18-style encoder and SimCLR projection head, in plain torch.

He et al. (2016) ResNet-18: a stem, four stages of two BasicBlocks (3x3-3x3 convolutions with
batch norm and an identity/1x1 shortcut) with widths w, 2w, 4w, 8w and strides 1, 2, 2, 2,
global average pooling. For small bright-field crops (64 px by default) the 7x7/2 stem and
max-pool of the ImageNet model (total stride 4) are replaced by one 3x3 convolution of stride
``stem_stride`` (2 by default, 1 as in CIFAR ResNets),
and the default width is w = 8 instead of 64 (2 CPU cores). A linear layer maps the pooled
``8w`` features to the representation ``h`` of size ``embedding_size``; the projection head
``g(h) = W2 ReLU(W1 h)`` (SimCLR §2.1) gives ``z`` for the loss.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN layers with a residual shortcut: ``(B, c_in, H, W) -> (B, c_out, H/s, W/s)``."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.short = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.short(x))


class ResNet18Encoder(nn.Module):
    """ResNet-18-style encoder: ``(B, in_channels, H, W)`` -> representation ``(B, embedding_size)``.

    Inputs are intensities in [0, 1]; they are centred as ``(x - 0.5) / 0.25`` inside.
    """

    def __init__(self, in_channels: int = 1, width: int = 8, embedding_size: int = 64, blocks=(2, 2, 2, 2),
                 stem_stride: int = 2):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, stem_stride, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        layers, c = [], width
        for i, n in enumerate(blocks):
            c_out = width * 2**i
            for j in range(n):
                layers.append(BasicBlock(c, c_out, stride=(1 if i == 0 or j > 0 else 2)))
                c = c_out
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(c, embedding_size)
        self.feature_channels = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 0.5) / 0.25
        x = self.layers(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))


class ProjectionHead(nn.Module):
    """SimCLR projection ``g``: ``(B, embedding_size) -> (B, projection_dim)``, MLP with one hidden layer."""

    def __init__(self, embedding_size: int, projection_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(embedding_size, embedding_size), nn.ReLU(), nn.Linear(embedding_size, projection_dim))

    def forward(self, h):
        return self.net(h)
