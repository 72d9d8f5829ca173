"""Data pipeline: UCF-101 splits, video decoding and sampling, chunks, and a batch loader.

    from tinyrrn.data import UCF101, ChunkLoader, Normalize

Command lines: `python -m tinyrrn.data.check ROOT` (missing and bad videos) and
`python -m tinyrrn.data.synthetic OUT_DIR` (a small UCF-101-layout dataset of motion pairs).
"""
from .loader import ChunkLoader
from .splits import read_split
from .transforms import Normalize
from .ucf101 import UCF101
from .video import BadVideo, frame_count, read_sampled

__all__ = ["UCF101", "ChunkLoader", "Normalize", "BadVideo", "read_split", "frame_count", "read_sampled"]
