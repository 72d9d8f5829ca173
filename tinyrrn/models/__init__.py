"""Models: ResNet backbones and the recurrent residual network of the paper."""
from .resnet import ARCHITECTURES, BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50, resnet_small
from .rrn import SKIP_TYPES, RecurrentResNet, TemporalSkip, default_positions, describe_positions, resolve_position
