"""The UCF101 dataset on tiny fake trees: path quirks, missing videos, chunking, crops, cache."""
import json
import os

import numpy as np
import pytest

from tinyrrn.data import UCF101, index, ucf101
from tinyrrn.data.synthetic import write_video
from tinyrrn.data.video import frame_count, read_sampled


def make_tree(root, videos, classes=("HandstandPushups", "YoYo"), size=(64, 48)):
    """Write videos {rel_path: frames or frame count} (ffv1, lossless) and split-1 lists.

    Group g01 is test, others train. Frame i of a counted video is a fixed noise image
    plus 3 * i, so decoded frames show which frame they are.
    """
    noise = np.random.default_rng(0).integers(0, 100, (size[1], size[0], 3), dtype=np.uint8)
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_bytes("".join(f"{i} {c}\r\n" for i, c in enumerate(classes, 1)).encode())
    train, test = [], []
    for rel, content in videos.items():
        frames = noise + 3 * np.arange(content, dtype=np.uint8)[:, None, None, None] if np.isscalar(content) else content
        (root / rel).parent.mkdir(exist_ok=True)
        write_video(root / rel, frames, codec="ffv1")
        label = [c.lower() for c in classes].index(rel.split("/")[0].lower()) + 1
        (test.append(rel) if "_g01_" in rel else train.append(f"{rel} {label}"))
    (lists / "trainlist01.txt").write_bytes("".join(f"{x}\r\n" for x in train).encode())
    (lists / "testlist01.txt").write_bytes("".join(f"{x}\r\n" for x in test).encode())
    return root


def test_case_insensitive_paths_the_handstand_quirk(tmp_path):
    # the list says HandstandPushups/v_HandStandPushups_...; on disk the folder case differs too
    root = make_tree(tmp_path, {"HANDSTANDPUSHUPS/v_HandStandPushups_g02_c01.avi": 21,
                                "YoYo/v_YoYo_g02_c01.avi": 21})
    lists = root / "ucfTrainTestlist" / "trainlist01.txt"
    lists.write_bytes(lists.read_bytes().replace(b"HANDSTANDPUSHUPS/v_HandStandPushups", b"HandstandPushups/v_handstandpushups"))
    ds = UCF101(root, split=1, train=True, resize=None, crop=32)
    assert ds.classes == ["HandstandPushups", "YoYo"]
    assert ds.videos == [("HandstandPushups/v_handstandpushups_g02_c01.avi", 0), ("YoYo/v_YoYo_g02_c01.avi", 1)]
    assert ds.paths[0].endswith("HANDSTANDPUSHUPS/v_HandStandPushups_g02_c01.avi")


def test_names_on_disk_in_another_unicode_form_than_the_lists_are_found(tmp_path):
    """A dataset copied from macOS holds 'é' as 'e' and a combining accent (NFD) in its names, the lists as typed (NFC):
    its videos were missing."""
    import unicodedata
    nfc, nfd = "Caf\u00e9", unicodedata.normalize("NFD", "Caf\u00e9")
    root = make_tree(tmp_path, {f"{nfc}/v_{nfc}_g02_c01.avi": 11, "YoYo/v_YoYo_g02_c01.avi": 11}, classes=(nfc, "YoYo"))
    (root / nfc).rename(root / nfd)
    (root / nfd / f"v_{nfc}_g02_c01.avi").rename(root / nfd / f"v_{nfd}_g02_c01.avi")
    ds = UCF101(root, split=1, train=True, resize=None, crop=32)
    assert ds.paths[0] == str(root / f"{nfd}/v_{nfd}_g02_c01.avi") and [label for _, label in ds.videos] == [0, 1]


def test_missing_videos_error_or_skip(tmp_path):
    root = make_tree(tmp_path, {f"YoYo/v_YoYo_g{g:02d}_c01.avi": 11 for g in range(2, 8)})
    for g in (3, 5, 6, 7):
        (root / f"YoYo/v_YoYo_g{g:02d}_c01.avi").unlink()
    with pytest.raises(FileNotFoundError, match=r"4 of 6 videos listed in .*trainlist01.txt are missing under "
                       r".*, e.g. .*v_YoYo_g03_c01.avi, .*g05_c01.avi, .*g06_c01.avi \(python -m tinyrrn.data.check lists them all"):
        UCF101(root, resize=None, crop=32)
    ds = UCF101(root, resize=None, crop=32, missing="skip")
    assert [rel for rel, _ in ds.videos] == ["YoYo/v_YoYo_g02_c01.avi", "YoYo/v_YoYo_g04_c01.avi"]
    assert len(ds.missing) == 4 and ds.missing[0].endswith("YoYo/v_YoYo_g03_c01.avi")


def test_chunking_rule_and_short_videos(tmp_path):
    # 71 frames -> 8 sampled -> T=3: 2 chunks; 21 -> 3 sampled: 1 chunk; 11 -> 2 sampled (< T): 1 chunk
    root = make_tree(tmp_path, {"YoYo/v_YoYo_g02_c01.avi": 71, "YoYo/v_YoYo_g03_c01.avi": 21,
                                "YoYo/v_YoYo_g04_c01.avi": 11})
    ds = UCF101(root, chunk=3, resize=None, crop=48)
    assert list(ds.frame_counts) == [71, 21, 11]
    assert list(ds.chunk_video) == [0, 0, 1, 2] and list(ds.chunk_start) == [0, 3, 0, 0]
    base = np.random.default_rng(0).integers(0, 100, (48, 64, 3), dtype=np.uint8)[:, 8:56]

    def frame_indices(i):
        clip, label, video = ds.get(i)
        assert clip.shape == (3, 3, 48, 48) and clip.dtype == np.float32 and label == 1
        raw = ds.frames(video)[np.minimum(ds.chunk_start[i] + np.arange(3), len(ds.frames(video)) - 1)]
        return list(np.round((raw[:, :, 8:56].astype(float) - base).mean(axis=(1, 2, 3)) / 3).astype(int))
    assert frame_indices(0) == [0, 10, 20] and frame_indices(1) == [30, 40, 50]
    assert frame_indices(3) == [0, 10, 10]                      # short video repeats its last frame


def test_classes_with_no_training_video_are_warned_about_naming_the_list(tmp_path):
    # classInd.txt names HandstandPushups, the training list none of its videos (a damaged or partial list): the
    # model was trained, in silence, never to predict a class whose test videos then all counted as errors
    import warnings
    root = make_tree(tmp_path, {"YoYo/v_YoYo_g02_c01.avi": 11, "YoYo/v_YoYo_g03_c01.avi": 11,
                                "HandstandPushups/v_HandstandPushups_g03_c01.avi": 11,
                                "HandstandPushups/v_HandstandPushups_g01_c01.avi": 11})
    with pytest.warns(UserWarning, match=r"trainlist01.txt: no training video of 1 of the 2 classes of "
                                         r".*classInd.txt \(HandstandPushups\) outside the validation groups g03"):
        UCF101(root, resize=None, crop=32, val_groups=[3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        UCF101(root, resize=None, crop=32)                                   # every class has one
        UCF101(root, resize=None, crop=32, val_groups=[3], validation=True)  # held out: not trained on
        UCF101(root, train=False, resize=None, crop=32)
    (root / "HandstandPushups/v_HandstandPushups_g03_c01.avi").unlink()
    with pytest.warns(UserWarning, match=r"trainlist01.txt: no training video of 1 of the 2 classes of "
                                         r".*classInd.txt \(HandstandPushups\): the model"):
        UCF101(root, resize=None, crop=32, missing="skip")


def test_chunk_past_real_end_reuses_last_frame(tmp_path):
    root = make_tree(tmp_path, {"YoYo/v_YoYo_g02_c01.avi": 41})
    ds = UCF101(root, chunk=2, resize=None, crop=32)
    ds.chunk_start[1] = 4                                      # as if metadata promised 6 sampled frames
    np.testing.assert_array_equal(ds.get(1)[0][0], ds.get(1)[0][1])


def test_same_crop_per_chunk_or_per_frame(tmp_path):
    still = np.repeat(np.random.default_rng(1).integers(0, 256, (1, 48, 64, 3), dtype=np.uint8), 41, axis=0)
    root = make_tree(tmp_path, {"YoYo/v_YoYo_g02_c01.avi": still, "YoYo/v_YoYo_g01_c01.avi": still})
    per_chunk = UCF101(root, chunk=5, resize=None, crop=24)
    per_frame = UCF101(root, chunk=5, resize=None, crop=24, per_frame_aug=True)
    for seed in range(5):
        clip = per_chunk.get(0, np.random.default_rng(seed))[0]
        assert all(np.array_equal(clip[0], c) for c in clip)    # one crop and flip for the chunk
    clips = [per_frame.get(0, np.random.default_rng(s))[0] for s in range(5)]
    assert any(not np.array_equal(c[0], c[t]) for c in clips for t in range(1, 5))
    a, b = per_chunk.get(0, np.random.default_rng(7))[0], per_chunk.get(0, np.random.default_rng(7))[0]
    np.testing.assert_array_equal(a, b)
    test = UCF101(root, chunk=5, resize=None, crop=24, train=False).get(0)[0]
    expected = UCF101(root, chunk=5, resize=None, crop=24, train=False).normalize(still[:5, 12:36, 20:44])
    np.testing.assert_allclose(test, expected)                  # centre crop, no flip


def test_flip_mirrors_and_can_be_disabled(tmp_path):
    still = np.repeat(np.random.default_rng(1).integers(0, 256, (1, 24, 32, 3), dtype=np.uint8), 11, axis=0)
    root = make_tree(tmp_path, {"YoYo/v_YoYo_g02_c01.avi": still}, size=(32, 24))
    ds = UCF101(root, chunk=1, resize=None, crop=24, normalize="caffe")
    clips = [ds.get(0, np.random.default_rng(s))[0][0, ::-1].transpose(1, 2, 0) + ds.normalize.mean[::-1] for s in range(8)]
    crops = [still[0, :, x:x + 24] for x in range(9)]
    crops += [c[:, ::-1] for c in crops]
    flipped = [any(np.allclose(c, k) for k in crops[9:]) for c in clips]
    assert all(any(np.allclose(c, k) for k in crops) for c in clips) and any(flipped) and not all(flipped)
    no_flip = UCF101(root, chunk=1, resize=None, crop=24, normalize="caffe", flip=False)
    for s in range(8):
        c = no_flip.get(0, np.random.default_rng(s))[0][0, ::-1].transpose(1, 2, 0) + ds.normalize.mean[::-1]
        assert any(np.allclose(c, k) for k in crops[:9])


def test_cache_gives_identical_frames(tmp_path):
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 31, "YoYo/v_YoYo_g01_c01.avi": 41})
    plain = UCF101(root, resize=36, crop=32)
    cached = UCF101(root, resize=36, crop=32, cache_dir=tmp_path / "cache")
    first = [cached.get(i, np.random.default_rng(i))[0] for i in range(len(cached))]
    assert len(list((tmp_path / "cache" / "every10_short36" / "YoYo").glob("v_YoYo_g02_c01.avi.*.npy"))) == 1
    assert (tmp_path / "cache" / "frame_counts.json").exists()
    again = UCF101(root, resize=36, crop=32, cache_dir=tmp_path / "cache")    # from the cache only
    for i in range(len(plain)):
        ref = plain.get(i, np.random.default_rng(i))[0]
        np.testing.assert_array_equal(ref, first[i])
        np.testing.assert_array_equal(ref, again.get(i, np.random.default_rng(i))[0])


def test_decoded_videos_stay_in_memory_up_to_the_byte_budget_least_recently_used_first_out(tmp_path):
    root = make_tree(tmp_path / "d", {f"YoYo/v_YoYo_g0{g}_c01.avi": 31 for g in (2, 3, 4)})
    sizes = [UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache").frames(v).nbytes for v in range(3)]
    assert len(set(sizes)) == 1  # every video: 4 sampled frames of 64x48, now in the frame cache
    for memory, reads, loads in [(2 * sizes[0], [0, 1, 0, 2, 0, 1], [0, 1, 2, 1]),  # 2 evicts 1, the least recent
                                 (0, [0, 0], [0, 0])]:
        dataset = UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache", memory=memory)
        loaded, load = [], dataset._load
        dataset._load = lambda video: loaded.append(video) or load(video)
        frames = [dataset.frames(video) for video in reads]
        assert loaded == loads
        # a kept video is a copy in memory (no open file); one not kept is the cache entry's memory map
        assert [isinstance(f, np.memmap) for f in frames[:2]] == [not memory] * 2
        np.testing.assert_array_equal(frames[0], frames[2 if memory else 1])


def test_a_video_copied_while_it_is_counted_is_counted_again_next_time(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 21})
    video = root / "YoYo" / "v_YoYo_g02_c01.avi"
    whole = video.read_bytes()
    video.write_bytes(whole[:20])  # still being copied: not even its header is complete

    def copy_ends_meanwhile(path):
        try:
            return frame_count(path)
        finally:
            video.write_bytes(whole)
    monkeypatch.setattr(index, "frame_count", copy_ends_meanwhile)
    with pytest.warns(UserWarning, match="skipping bad video"):
        assert list(UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache").frame_counts) == [0]
    monkeypatch.undo()
    assert list(UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache").frame_counts) == [21]


def test_frames_decoded_while_the_video_changes_are_not_cached(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 21})
    video = root / "YoYo" / "v_YoYo_g02_c01.avi"

    def replaced_meanwhile(path, *args):
        frames = read_sampled(path, *args)
        os.utime(video, ns=(0, 0))
        return frames
    monkeypatch.setattr(ucf101, "read_sampled", replaced_meanwhile)
    UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache").frames(0)
    assert not list((tmp_path / "cache").rglob("*.npy"))
    monkeypatch.undo()
    UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache").frames(0)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1


def test_a_video_replaced_by_one_of_its_size_and_modification_time_is_not_read_from_the_cache(tmp_path):
    """The cache key was the path, size and mtime: a video replaced by another of the same size whose mtime was
    kept (cp -p, rsync -t, tar, os.utime) was served the frames cached of the one before."""
    noise = np.random.default_rng(0).integers(0, 250, (31, 48, 64, 3), dtype=np.uint8)
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": noise})
    video = root / "YoYo" / "v_YoYo_g02_c01.avi"
    write_video(video, noise, codec="mjpeg")                 # frames coded one by one: reversed, as many bytes
    before = video.stat()
    UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache").frames(0)
    write_video(video, noise[::-1], codec="mjpeg")
    os.utime(video, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert video.stat().st_size == before.st_size
    frames = UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache").frames(0)
    np.testing.assert_array_equal(frames, read_sampled(video, 10))


@pytest.mark.parametrize("damage", [lambda entry, frames: entry.write_bytes(b""),
                                    lambda entry, frames: np.save(entry, frames[:0]),
                                    lambda entry, frames: np.save(entry, frames[:, :20, :20]),
                                    lambda entry, frames: np.save(entry, frames[:1])],
                         ids=["empty file", "no frames", "smaller frames", "fewer frames"])
def test_a_damaged_cache_entry_is_decoded_again(tmp_path, damage):
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 31})
    truth = np.array(UCF101(root, resize=36, crop=32, cache_dir=tmp_path / "cache").frames(0))
    entry, = (tmp_path / "cache").rglob("*.npy")
    damage(entry, truth)
    again = UCF101(root, resize=36, crop=32, cache_dir=tmp_path / "cache")
    with pytest.warns(UserWarning, match=rf"{entry}: damaged frame cache entry, .*; decoding the video again"):
        again.get(0)
    np.testing.assert_array_equal(again.frames(0), truth)
    np.testing.assert_array_equal(np.load(entry), truth)  # and cached again


@pytest.mark.parametrize("content, says", [(b'{"/videos/a.avi": {"sig', "not valid JSON"),
                                           (b"[]", "not a JSON object of frame counts"),
                                           (b'{"/videos/a.avi": 5}', "not a JSON object of frame counts")])
def test_a_damaged_frame_count_index_is_warned_about_and_counted_again(tmp_path, content, says):
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 21})
    counts = tmp_path / "cache" / "frame_counts.json"
    counts.parent.mkdir()
    counts.write_bytes(content)
    with pytest.warns(UserWarning, match=rf"{counts}: {says}.*; counting every video again"):
        assert list(UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache").frame_counts) == [21]
    assert [entry["frames"] for entry in json.load(open(counts)).values()] == [21]


@pytest.mark.parametrize("spare, before", [(0, 0), (1, 0), (2, 1), (3, 2), (5, 2), (7, 4), (32, 16), (117, 58)])
def test_the_centre_crop_rounds_its_margin_as_torchvisions_center_crop(spare, before):
    """torchvision's center_crop puts int(round(spare / 2)) rows before the crop, Python's round (half to
    even): 3 spare rows are 2 before and 1 after, not 1 and 2 (h - size // 2)."""
    from tinyrrn.data.transforms import center_crops
    frames = np.zeros((2, 10 + spare, 10 + spare + 1, 3), np.uint8)
    tops, lefts, flips = center_crops(frames, 10)
    assert list(tops) == [before, before] and list(lefts) == [int(round((spare + 1) / 2))] * 2 and not flips.any()


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_a_crop_size_out_of_range_is_refused_naming_it(size):
    """A crop of 0 or -3 gave empty clips (T, 0, 0, 3), True clips of one pixel, 2.5 an IndexError about arrays."""
    from tinyrrn.data.transforms import center_crops, draw_crops
    frames = np.zeros((2, 10, 12, 3), np.uint8)
    for boxes in (lambda: center_crops(frames, size), lambda: draw_crops(np.random.default_rng(0), frames, size)):
        with pytest.raises(ValueError, match=f"crop should be a positive integer, got {size}"):
            boxes()


@pytest.mark.parametrize("when", ["before decoding", "while decoding"])
def test_a_video_deleted_during_a_run_is_a_bad_video_naming_it(tmp_path, monkeypatch, when):
    # deleted (or moved) after the dataset was indexed: the frame cache's key cannot be taken; with a cache
    # that was an OSError from os.stat, not a BadVideo the loader records and training, evaluation and
    # features leave out, naming the file
    from tinyrrn.data import BadVideo
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 21, "YoYo/v_YoYo_g03_c01.avi": 21})
    ds = UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache")
    video = root / "YoYo" / "v_YoYo_g02_c01.avi"
    if when == "before decoding":
        video.unlink()
        with pytest.raises(BadVideo, match=rf"{video}: cannot read \(deleted or moved since the dataset was "
                                           r"indexed\?\): .*No such file"):
            ds.frames(0)
    else:
        def deleted_meanwhile(path, *args):
            frames = read_sampled(path, *args)
            video.unlink()
            return frames
        monkeypatch.setattr(ucf101, "read_sampled", deleted_meanwhile)
        assert ds.frames(0).shape == (3, 48, 64, 3)   # decoded whole: used, not cached (the file is gone)
        assert not list((tmp_path / "cache").rglob("*.npy"))
        monkeypatch.undo()
    assert ds.frames(1).shape == (3, 48, 64, 3)


def test_predict_cuts_a_video_decoding_a_little_short_into_the_chunks_evaluation_plans(tmp_path):
    # 28 frames whose AVI header claims 31, every 10th: metadata promises 4 sampled frames (2 chunks of T=2); it
    # decodes 3, within the truncation tolerance: evaluation plans (and scores) 2 chunks from the metadata,
    # the second repeating the last decoded frame; predict counted 1 from the frames it decoded
    from tinyrrn import Tensor, predict
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g01_c01.avi": 28})
    video = root / "YoYo" / "v_YoYo_g01_c01.avi"
    with open(video, "r+b") as f:
        f.seek(48)
        f.write((31).to_bytes(4, "little"))                   # dwTotalFrames of the AVI main header
    assert len(read_sampled(video, 10)) == 3 and frame_count(video) == 31
    test = UCF101(root, train=False, resize=None, crop=32)
    assert len(test) == 2 and [len(test.get(i)[0]) for i in range(2)] == [2, 2]

    def uniform(x):
        return Tensor(np.zeros((len(x.data), 2), np.float32))
    config = {"sample_every": 10, "resize": None, "chunk": 2, "crop": 32, "normalize": "torchvision"}
    probabilities, chunks = predict.predict(uniform, config, str(video))
    assert chunks == len(test) and np.allclose(probabilities, 0.5)


@pytest.mark.parametrize("expected, decoded, truncated", [(4, 3, False), (4, 2, True), (9, 8, False), (9, 7, True),
                                                          (20, 18, False), (20, 17, True), (35, 32, False),
                                                          (35, 31, True)])
def test_truncated_means_more_than_10_percent_and_more_than_one_sampled_frame_short(tmp_path, expected, decoded,
                                                                                  truncated):
    # the words of the docstrings are the code's rule: one sampled frame short is always allowed (a count from
    # the duration x frame rate can be one frame off), more than that only up to 10%
    from tinyrrn.data import BadVideo, video as videos
    assert videos.truncated(decoded, expected) == truncated
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": decoded})
    path = root / "YoYo" / "v_YoYo_g02_c01.avi"
    if truncated:
        with pytest.raises(BadVideo, match=rf"truncated: decoded {decoded} sampled frames, metadata promises "
                                           rf"{expected}"):
            read_sampled(path, 1, expected=expected)
    else:
        assert len(read_sampled(path, 1, expected=expected)) == decoded


def test_frame_counts_that_cannot_be_kept_are_warned_about_and_used(tmp_path, monkeypatch):
    # a read-only or full --cache-dir: the frame cache goes on without writing entries; so does the count index
    # (its write stopped the whole run with 'error: CACHE/frame_counts.json: Operation not permitted')
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 21})

    def read_only(path, *args, **kwargs):
        raise PermissionError(1, "Operation not permitted", str(path))
    monkeypatch.setattr(index, "write_json", read_only)
    counts = tmp_path / "cache" / "frame_counts.json"
    with pytest.warns(UserWarning, match=rf"{counts}: cannot write the frame counts \(Operation not permitted\); "
                                         "going on: they are counted again next time"):
        ds = UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache")
    assert list(ds.frame_counts) == [21] and len(ds) == 1 and not counts.exists()


def test_a_cache_dir_that_is_a_file_is_refused_naming_it(tmp_path):
    # a read-only or full cache folder is warned about and the run goes on; a path that is no folder is a mistake
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 21})
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file")
    with pytest.raises(NotADirectoryError, match=r"not a folder, so it cannot hold the frame cache \(--cache-dir\)") \
            as raised:
        UCF101(root, resize=None, crop=32, cache_dir=not_a_folder)
    assert raised.value.filename == str(not_a_folder)


def _within(seconds, fn):
    """fn() run in a thread: its result, or a failure when it has not returned after ``seconds`` (a read of a
    named pipe nobody writes never ends)."""
    import threading
    out = {}

    def run():
        try:
            out["result"] = fn()
        except BaseException as err:  # handed to the test
            out["error"] = err
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    if "error" in out:
        raise out["error"]
    return out["result"]


def test_a_frame_cache_entry_or_count_index_that_is_a_pipe_is_never_read(tmp_path):
    """A named pipe (or a link to a device) where the cache keeps a video's frames or the frame counts was
    opened and read forever: an entry is passed over (the video decoded instead), the index refused naming it."""
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 31, "YoYo/v_YoYo_g02_c02.avi": 31})
    plain = UCF101(root, resize=36, crop=32)
    first = plain.paths.index(str(root / "YoYo" / "v_YoYo_g02_c01.avi"))
    chunk = list(plain.chunk_video).index(first)
    UCF101(root, resize=36, crop=32, cache_dir=tmp_path / "cache").get(chunk, np.random.default_rng(0))
    folder = tmp_path / "cache" / "every10_short36" / "YoYo"
    entry = next(folder.glob("v_YoYo_g02_c01.avi.*.npy"))
    entry.unlink()
    os.mkfifo(entry)
    cached = UCF101(root, resize=36, crop=32, cache_dir=tmp_path / "cache")
    with pytest.warns(UserWarning, match=rf"{entry}: not a regular file \(a device, pipe or socket\)") as caught:
        frames = _within(10, lambda: cached.get(chunk, np.random.default_rng(0))[0])
        for i in range(len(cached)):  # the other video is cached still: one stray entry does not stop the cache
            _within(10, lambda: cached.get(i, np.random.default_rng(0)))
    assert not [w for w in caught if "cannot write" in str(w.message)]
    assert len(list(folder.glob("v_YoYo_g02_c02.avi.*.npy"))) == 1
    np.testing.assert_array_equal(frames, plain.get(chunk, np.random.default_rng(0))[0])
    counts = tmp_path / "cache" / "frame_counts.json"
    counts.unlink()
    os.mkfifo(counts)
    with pytest.raises(OSError, match="not a regular file"):
        _within(10, lambda: UCF101(root, resize=36, crop=32, cache_dir=tmp_path / "cache"))
