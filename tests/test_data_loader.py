"""ChunkLoader: deterministic order and content, workers, exact resume, cache, bad videos."""
import json
import shutil
import warnings

import numpy as np
import pytest

from tinyrrn.data import UCF101, ChunkLoader
from tinyrrn.data.synthetic import generate


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("synthetic"), seed=3, classes=4, groups=4, clips=1)


def dataset(root, **kw):
    return UCF101(root, resize=36, crop=32, **kw)


def epoch(loader, e=None):
    if e is not None:
        loader.set_epoch(e)
    return [tuple(np.array(a) for a in batch) for batch in loader]


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for p, q in zip(a, b) for x, y in zip(p, q))


def test_batches_shapes_and_every_chunk_once(root):
    ds = dataset(root)
    batches = epoch(ChunkLoader(ds, batch_size=8, workers=0))
    clips, labels, videos = batches[0]
    assert clips.shape == (8, 2, 3, 32, 32) and clips.dtype == np.float32
    assert labels.dtype == videos.dtype == np.int64
    assert len(batches) == -(-len(ds) // 8) and len(batches[-1][1]) == (len(ds) % 8 or 8)
    seen = np.concatenate([v for _, _, v in batches])
    assert sorted(seen) == sorted(ds.chunk_video)
    assert all(ds.videos[v][1] == l for _, ls, vs in batches for l, v in zip(ls, vs))
    assert len(epoch(ChunkLoader(ds, batch_size=8, workers=0, drop_last=True))) == len(ds) // 8


def test_determinism_across_epochs_seeds_and_workers(root):
    ds = dataset(root)
    a = ChunkLoader(ds, batch_size=6, seed=1, workers=0)
    b = ChunkLoader(ds, batch_size=6, seed=1, workers=2)
    e0, e1 = epoch(a, 0), epoch(a, 1)
    assert same(e0, epoch(b, 0)) and same(e1, epoch(b, 1))       # workers do not change content
    assert same(e0, epoch(a, 0))                                  # same seed and epoch: same batches
    assert not same(e0, e1)
    assert not same(e0, epoch(ChunkLoader(ds, batch_size=6, seed=2, workers=0)))
    fixed = ChunkLoader(dataset(root, train=False), batch_size=6, shuffle=False, workers=2)
    assert same(epoch(fixed), epoch(fixed))                       # evaluation can iterate again
    assert list(np.concatenate([v for _, _, v in epoch(fixed)])) == sorted(fixed.dataset.chunk_video)


def test_resume_mid_epoch_gives_identical_remaining_batches(root):
    ds = dataset(root)
    full = epoch(ChunkLoader(ds, batch_size=5, seed=4, workers=0), 2)
    loader = ChunkLoader(ds, batch_size=5, seed=4, workers=2)
    loader.set_epoch(2)
    for i, _ in enumerate(loader):
        if i == 2:
            break
    state = json.loads(json.dumps(loader.state_dict()))
    assert state["epoch"] == 2 and state["position"] == 3 and state["seed"] == 4
    resumed = ChunkLoader(ds, batch_size=5, seed=99, workers=2)
    resumed.load_state_dict(state)
    resumed.set_epoch(2)                                          # a training loop's call keeps the position
    assert same(epoch(resumed), full[3:])
    assert resumed.state_dict()["epoch"] == 3 and resumed.state_dict()["position"] == 0
    with pytest.raises(ValueError, match="batch_size=5 does not match this loader's 4"):
        ChunkLoader(ds, batch_size=4).load_state_dict(state)


@pytest.mark.parametrize("key, value, says", [("position", 99, r"position 99 is past the 5 batches of an epoch"),
                                              ("position", -3, "position should be a non-negative integer, got -3"),
                                              ("position", 2.5, "position should be a non-negative integer, got 2.5"),
                                              ("epoch", -1, "epoch should be a non-negative integer, got -1"),
                                              ("epoch", "1", "epoch should be a non-negative integer, got '1'"),
                                              ("seed", None, "seed should be a non-negative integer, got None")])
def test_a_damaged_position_is_refused_naming_it(root, key, value, says):
    """position -3 gave batches cut from the order's end (a silently other epoch), 99 an epoch of no batch; a
    position, epoch or seed of another type was an unnamed TypeError."""
    loader = ChunkLoader(dataset(root), batch_size=8, workers=0)
    state = {**loader.state_dict(), key: value}
    with pytest.raises(ValueError, match=f"loader state {says}"):
        loader.load_state_dict(state)
    assert (loader.epoch, loader.position, loader.seed) == (0, 0, 0)
    assert len(loader) == 5
    loader.load_state_dict({**state, key: 5 if key == "position" else 1})  # its last batch done: the epoch is over
    assert len(epoch(loader)) == (0 if key == "position" else 5)


def test_cache_gives_identical_batches(root, tmp_path):
    plain = epoch(ChunkLoader(dataset(root), batch_size=8, workers=2))
    cached_ds = dataset(root, cache_dir=tmp_path)
    assert same(plain, epoch(ChunkLoader(cached_ds, batch_size=8, workers=2)))
    assert same(plain, epoch(ChunkLoader(dataset(root, cache_dir=tmp_path), batch_size=8, workers=0)))


@pytest.mark.filterwarnings("ignore:skipping bad video")
def test_bad_videos_are_skipped_listed_and_never_crash(root, tmp_path):
    bad_root = tmp_path / "bad"
    shutil.copytree(root, bad_root)
    good = (bad_root / "Grow/v_Grow_g04_c01.avi").read_bytes()
    (bad_root / "Grow/v_Grow_g04_c01.avi").write_bytes(good[:len(good) // 3])          # truncated
    (bad_root / "Grow/v_Grow_g03_c01.avi").write_bytes(b"")                            # empty
    (bad_root / "Shrink/v_Shrink_g03_c01.avi").write_text("not a video\n" * 100)       # text renamed .avi
    with pytest.warns(UserWarning, match="skipping bad video .*v_Grow_g03_c01.avi"):
        ds = dataset(bad_root)
    assert len(ds.bad_videos) == 2                               # unreadable metadata: no chunks at all
    listing = tmp_path / "run" / "bad_videos.txt"
    loader = ChunkLoader(ds, batch_size=4, workers=2, bad_videos_path=str(listing))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = epoch(loader)
    assert any("v_Grow_g04_c01.avi: truncated" in str(w.message) for w in caught)
    names = sorted(p.split("/")[-1] for p in loader.bad_videos)
    assert names == ["v_Grow_g03_c01.avi", "v_Grow_g04_c01.avi", "v_Shrink_g03_c01.avi"]
    assert sorted(p.split("/")[-1] for p in listing.read_text().split()) == names
    truncated = ds.paths.index(str(bad_root / "Grow/v_Grow_g04_c01.avi"))
    seen = np.concatenate([v for _, _, v in batches])
    assert truncated not in seen and len(seen) == len(ds) - np.sum(ds.chunk_video == truncated)
    assert same(batches, epoch(ChunkLoader(ds, batch_size=4, workers=0), 0))   # deterministic, workers or not
    epoch(loader)
    assert len(listing.read_text().split()) == 3                 # listed once


def test_a_position_is_refused_in_a_reordered_training_list_of_as_many_chunks(root, tmp_path):
    copy = shutil.copytree(root, tmp_path / "data")
    state = ChunkLoader(dataset(copy), batch_size=4).state_dict()
    trainlist = copy / "ucfTrainTestlist" / "trainlist01.txt"
    trainlist.write_bytes(b"".join(reversed(trainlist.read_bytes().splitlines(keepends=True))))
    loader = ChunkLoader(dataset(copy), batch_size=4)
    assert loader.state_dict()["chunks"] == state["chunks"]
    with pytest.raises(ValueError, match=r"a plan of \d+ chunks of other videos, or in another order, than the "
                                         "dataset's now: its videos or split lists changed since the run started"):
        loader.load_state_dict(state)
    loader.load_state_dict(loader.state_dict())  # the same list: resumed


@pytest.mark.parametrize("settings, says", [({"batch_size": 0}, "batch_size should be a positive integer, got 0"),
                                            ({"batch_size": -2}, "batch_size should be a positive integer, got -2"),
                                            ({"batch_size": True}, "batch_size should be a positive integer, got True"),
                                            ({"batch_size": 2.0}, "batch_size should be a positive integer, got 2.0"),
                                            ({"workers": -1}, "workers should be a non-negative integer"),
                                            ({"prefetch": -1}, "prefetch should be a non-negative integer"),
                                            ({"world": 0}, "world should be a positive integer"),
                                            ({"seed": -1}, "seed should be a non-negative integer, got -1"),
                                            ({"seed": None}, "seed should be a non-negative integer, got None"),
                                            ({"seed": "3"}, "seed should be a non-negative integer, got '3'"),
                                            ({"seed": 1.5}, "seed should be a non-negative integer, got 1.5")])
def test_loader_settings_out_of_range_are_refused_naming_them(root, settings, says):
    """As torch.utils.data.DataLoader refuses them (ValueError): batch_size=0 was a ZeroDivisionError, True a batch
    of one, -2 an error from len(), workers=-1 ThreadPoolExecutor's 'max_workers' once iterated."""
    with pytest.raises(ValueError, match=says):
        ChunkLoader(dataset(root), **settings)


@pytest.mark.parametrize("epoch", [-1, 1.5, None])
def test_an_epoch_out_of_range_is_refused_naming_it(root, epoch):
    """The seed and epoch make the order (default_rng([seed, epoch])): seed=None was a TypeError about len(), -1 an
    unnamed 'expected non-negative integer' on iterating, '3' and True orders of numpy's own reading of them."""
    loader = ChunkLoader(dataset(root), workers=0)
    with pytest.raises(ValueError, match=f"epoch should be a non-negative integer, got {epoch}"):
        loader.set_epoch(epoch)
    assert loader.epoch == 0


class _FailingDataset:
    """Ten one-chunk videos; getting the chunk of video 7 raises ``error`` (a bug, not a bad video)."""
    classes, bad_videos, clip_shape = ["a"], [], (1, 3, 2, 2)

    def __init__(self, error):
        self.error, self.paths, self.chunk_video = error, [f"/data/v_{i}.avi" for i in range(10)], np.arange(10)

    def __len__(self):
        return 10

    def get(self, i, rng=None):
        if i == 7:
            raise self.error
        return np.zeros(self.clip_shape, np.float32), 0, i


@pytest.mark.parametrize("workers", [0, 1, 2])
@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyError("frames"), OSError(5, "Input/output error")])
def test_an_error_loading_a_chunk_names_its_video(workers, error):
    """An error other than a bad video's, raised loading one chunk, came out as it was ('boom'): nothing said which
    video of the epoch it was loading. Now it is the same kind of error, naming the video and the chunk."""
    loader = ChunkLoader(_FailingDataset(error), batch_size=3, shuffle=False, workers=workers)
    with pytest.raises(type(error), match=r"/data/v_7.avi \(chunk 7\): .*(boom|frames|Input/output error)"):
        list(loader)
