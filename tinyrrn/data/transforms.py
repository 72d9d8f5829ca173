"""Crops, flips and input normalisation of a chunk of frames (uint8 RGB, (T, H, W, 3)).

A crop is given per frame as (top, left, flip) arrays of length T and done with one
fancy-indexing gather, so the same code serves one crop for the whole chunk (all rows equal)
and the authors' per-frame draws.
"""
import numpy as np

from .video import check_count

# ImageNet statistics of torchvision's models (RGB in [0, 1]) and the Caffe ResNet mean
# (BGR in [0, 255], as used by Keras' "caffe" preprocessing).
TORCHVISION_MEAN, TORCHVISION_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
NORMALIZATIONS = ("torchvision", "caffe")


def draw_crops(rng, frames, size, per_frame=False, flip=True):
    """Random (top, left, flip) arrays for each of the T frames: one draw, or one per frame."""
    t, h, w = frames.shape[:3]
    _check_fits(frames, size)
    n = t if per_frame else 1
    tops = rng.integers(0, h - size + 1, n)
    lefts = rng.integers(0, w - size + 1, n)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, bool)
    return tuple(np.broadcast_to(a, (t,)) for a in (tops, lefts, flips))


def center_crops(frames, size):
    """(top, left, flip) arrays of the central `size` x `size` crop, no flip: the margin before the crop is
    half the spare rows (columns) rounded as torchvision's center_crop rounds it, half to even (3 spare: 2
    before, 1 after), so that a model sees the pixels it was trained on with torchvision."""
    t, h, w = frames.shape[:3]
    _check_fits(frames, size)
    return np.full(t, round((h - size) / 2)), np.full(t, round((w - size) / 2)), np.zeros(t, bool)


def crop(frames, tops, lefts, flips, size):
    """Gather the `size` x `size` crop of every frame, mirrored left-right where flips is True."""
    offsets = np.arange(size)
    rows = tops[:, None] + offsets                                    # (T, size)
    cols = lefts[:, None] + np.where(flips[:, None], offsets[::-1], offsets)
    return frames[np.arange(len(frames))[:, None, None], rows[:, :, None], cols[:, None, :]]


def _check_fits(frames, size):
    check_count("crop", size, 1)
    if frames.ndim != 4 or frames.shape[1] < size or frames.shape[2] < size:
        raise ValueError(f"cannot crop {size}x{size} from frames of shape {frames.shape} "
                         "(expected (T, H, W, 3) with H, W >= crop; raise resize or lower crop)")


class Normalize:
    """uint8 RGB frames (T, H, W, 3) -> float32 (T, 3, H, W) in a weights' input convention.

    "torchvision": RGB scaled to [0, 1], minus mean, divided by std (ImageNet statistics).
    "caffe": BGR in [0, 255] minus the per-channel mean. The result is an NCHW view of
    channels-last memory (call np.ascontiguousarray for NCHW memory).
    """

    def __init__(self, convention="torchvision"):
        if convention == "torchvision":
            self.bgr, scale = False, 255.0 * np.array(TORCHVISION_STD)
            self.mean = 255.0 * np.array(TORCHVISION_MEAN)
        elif convention == "caffe":
            self.bgr, scale, self.mean = True, np.ones(3), np.array(CAFFE_MEAN_BGR)
        else:
            raise ValueError(f"normalize must be 'torchvision' or 'caffe', got {convention!r}")
        self.convention = convention
        self.mean, self.inv_scale = self.mean.astype(np.float32), (1.0 / scale).astype(np.float32)

    def __call__(self, frames):
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"Normalize expects uint8 frames (T, H, W, 3), got shape {frames.shape}")
        if frames.dtype != np.uint8:  # float frames in [0, 1] or 16-bit ones would be scaled as bytes
            raise TypeError(f"Normalize expects uint8 frames (T, H, W, 3) in 0-255, got {frames.dtype}")
        x = frames[..., ::-1] if self.bgr else frames
        x = (x.astype(np.float32) - self.mean) * self.inv_scale
        return x.transpose(0, 3, 1, 2)

    def __repr__(self):
        return f"Normalize({self.convention!r})"
