"""Bad data that used to pass in silence, or fail far from its cause: a frame-count index with
impossible counts, split lines not named like UCF-101, crops larger than the frames, a decoder
stream whose frames change size."""
import json
import shutil

import numpy as np
import pytest

from tinyrrn.data import UCF101, video
from tinyrrn.data.splits import read_split
from test_data_ucf101 import make_tree


@pytest.mark.parametrize("stored", [-7, True, 12.0], ids=["negative", "bool", "float"])
def test_an_impossible_stored_frame_count_is_counted_again(tmp_path, stored):
    # a count of -7 gave the video no chunks and left it out of bad_videos: it vanished in silence
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 21})
    UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache")
    counts = tmp_path / "cache" / "frame_counts.json"
    entries = json.loads(counts.read_text())
    for entry in entries.values():
        entry["frames"] = stored
    counts.write_text(json.dumps(entries))
    with pytest.warns(UserWarning, match=rf"{counts}: not a JSON object of frame counts"):
        again = UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache")
    assert list(again.frame_counts) == [21] and len(again) == 1


def test_a_list_line_not_named_like_ucf101_names_its_file_and_line(tmp_path):
    lists = tmp_path / "lists"
    shutil.copytree(make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 11}) / "ucfTrainTestlist", lists)
    with open(lists / "trainlist01.txt", "ab") as f:
        f.write(b"YoYo/clip.avi 2\r\n")
    with pytest.raises(ValueError, match=r"trainlist01.txt:2: 'YoYo/clip.avi' is not named like UCF-101's"):
        read_split(lists, 1)


def test_a_crop_larger_than_the_resized_frames_is_refused_at_once(tmp_path):
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 11})
    with pytest.raises(ValueError, match=r"crop 40 is larger than resize 36"):
        UCF101(root, resize=36, crop=40)


@pytest.mark.parametrize("settings, says", [({"crop": 0}, "crop should be a positive integer, got 0"),
                                            ({"crop": -1}, "crop should be a positive integer, got -1"),
                                            ({"crop": 32.5}, "crop should be a positive integer, got 32.5"),
                                            ({"resize": 0}, "resize should be a positive integer, got 0"),
                                            ({"resize": -3, "crop": 1}, "resize should be a positive integer, got -3"),
                                            ({"resize": 40.5}, "resize should be a positive integer, got 40.5"),
                                            ({"chunk": 2.5}, "chunk should be a positive integer, got 2.5"),
                                            ({"chunk": True}, "chunk should be a positive integer, got True"),
                                            ({"sample_every": 0}, "sample_every should be a positive integer, got 0")])
def test_dataset_settings_out_of_range_are_refused_naming_them(tmp_path, settings, says):
    """crop 0 or -1 gave empty clips, resize 0 with crop 0 frames of their own size, resize -3 ffmpeg's 'divisible by 3',
    resize 40.5 a cache whose every entry was 'damaged', a float chunk a TypeError of NumPy's casting rules."""
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 11})
    with pytest.raises(ValueError, match=says):
        UCF101(root, **{"resize": None, "crop": 32, **settings})


def test_frames_smaller_than_the_crop_name_their_video(tmp_path):
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 11})
    data = UCF101(root, resize=None, crop=50)
    with pytest.raises(ValueError, match=r"v_YoYo_g02_c01.avi: frames of 64x48 are smaller than the 50x50 crop"):
        data.get(0)


def _ppm(width, height, value):
    return f"P6\n{width} {height}\n255\n".encode() + bytes([value]) * (width * height * 3)


@pytest.mark.parametrize("stream", [_ppm(4, 2, 1) + _ppm(2, 4, 2) + _ppm(4, 2, 3),
                                    _ppm(4, 2, 1) + _ppm(4, 2, 2) + b"P6\n4 2\n255\n\x00"],
                         ids=["size changes", "trailing bytes"])
def test_a_decoded_stream_of_frames_of_other_sizes_is_a_bad_video(monkeypatch, stream):
    # the second frame's bytes were read as if it had the first one's size: frames of garbage, in silence
    monkeypatch.setattr(video, "_run_ffmpeg", lambda args: (0, stream, ""))
    with pytest.raises(video.BadVideo, match=r"v.avi: cannot decode: the frames ffmpeg gave are not whole frames of one size"):
        video.read_sampled("v.avi", 10)
    monkeypatch.setattr(video, "_run_ffmpeg", lambda args: (0, _ppm(4, 2, 1) + _ppm(4, 2, 9), ""))
    np.testing.assert_array_equal(video.read_sampled("v.avi", 10)[:, 0, 0, 0], [1, 9])


def test_a_bad_verdict_in_the_frame_count_index_is_judged_again(tmp_path):
    """An index written by an older rule (an AVI header's 0 total frames was 'zero frames' before it was probed)
    kept a whole video out of evaluate, which reads the default cache's index, while train, with a fresh one,
    used it: a different decision per command for an unchanged file. Bad verdicts are not reused."""
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 21})
    UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache")
    counts = tmp_path / "cache" / "frame_counts.json"
    entries = json.loads(counts.read_text())
    for entry in entries.values():
        entry.update(frames=0, reason="zero frames")
    counts.write_text(json.dumps(entries))
    again = UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache")
    assert list(again.frame_counts) == [21] and len(again) == 1 and not again.bad_videos
    assert [entry["frames"] for entry in json.loads(counts.read_text()).values()] == [21]


def test_frames_kept_by_another_ffmpeg_are_not_reused(tmp_path, monkeypatch):
    """The frame cache was keyed by the file and the decoding rule alone: frames that another ffmpeg decoded (an
    older imageio-ffmpeg, or IMAGEIO_FFMPEG_EXE set to another binary), which can differ, were served as this
    one's."""
    import imageio_ffmpeg
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 21})
    kept = UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache")
    kept.frames(0)
    (entry,) = (tmp_path / "cache").rglob("*.npy")
    np.save(entry, np.load(entry)[:, ::-1])                 # what the other ffmpeg decoded
    other = tmp_path / "other-ffmpeg"
    other.symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: str(other))
    again = UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.frames(0), video.read_sampled(root / "YoYo" / "v_YoYo_g02_c01.avi", 10))


def test_frames_and_counts_kept_under_an_older_decoding_rule_are_not_reused(tmp_path, monkeypatch):
    """The frame cache and the frame-count index were keyed by the file alone: once a newer rule decoded a file
    otherwise (a sound file with cover art, refused since, had been read as a one-frame video), the frames and
    count kept of its old reading were served for as long as the file was unchanged."""
    root = make_tree(tmp_path / "d", {"YoYo/v_YoYo_g02_c01.avi": 21})
    kept = UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache")
    kept.frames(0)
    counts = tmp_path / "cache" / "frame_counts.json"
    entries = json.loads(counts.read_text())
    for entry in entries.values():
        entry["frames"] = 11                                # what an older rule counted
    counts.write_text(json.dumps(entries))
    (entry,) = (tmp_path / "cache").rglob("*.npy")
    np.save(entry, np.load(entry)[:, ::-1])                 # and decoded
    monkeypatch.setattr(video, "DECODING", video.DECODING + 1)
    again = UCF101(root, resize=None, crop=32, cache_dir=tmp_path / "cache")
    assert list(again.frame_counts) == [21]
    np.testing.assert_array_equal(again.frames(0), video.read_sampled(root / "YoYo" / "v_YoYo_g02_c01.avi", 10))
