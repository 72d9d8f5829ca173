"""The synthetic dataset: UCF-101 layout and naming, determinism, and order-only class pairs."""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from tinyrrn.data import UCF101, read_sampled
from tinyrrn.data.splits import group_of, read_split
from tinyrrn.data.synthetic import PAIRS, class_names, generate, render, split_test_groups


def tree_digest(root):
    h = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            h.update(name.encode() + open(os.path.join(folder, name), "rb").read())
    return h.hexdigest()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return str(generate(tmp_path_factory.mktemp("syn"), seed=5, classes=12, groups=4, clips=2))


def test_layout_and_naming_like_ucf101(root):
    lists = os.path.join(root, "ucfTrainTestlist")
    assert sorted(os.listdir(lists)) == ["classInd.txt"] + [f"{kind}list0{k}.txt" for kind in ("test", "train")
                                                            for k in (1, 2, 3)]
    with open(os.path.join(lists, "classInd.txt"), "rb") as f:
        assert f.read().split(b"\r\n")[:2] == [b"1 MoveRight", b"2 MoveLeft"]
    with open(os.path.join(lists, "trainlist01.txt"), "rb") as f:
        assert f.readline() == b"MoveRight/v_MoveRight_g02_c01.avi 1\r\n"
    with open(os.path.join(lists, "testlist01.txt"), "rb") as f:
        assert f.readline() == b"MoveRight/v_MoveRight_g01_c01.avi\r\n"
    classes, train, test = read_split(lists, 1)                    # parses, no group leak
    assert classes == class_names(12) and len(classes) == 12
    assert (len(train), len(test)) == (12 * 3 * 2, 12 * 1 * 2)
    assert os.path.isfile(os.path.join(root, "Darken", "v_Darken_g04_c02.avi"))
    ds = UCF101(root, resize=36, crop=32)
    assert len(ds.videos) == 72 and not ds.bad_videos
    assert np.all((ds.frame_counts - 1) % 10 == 0) and ds.frame_counts.min() >= 41 and ds.frame_counts.max() <= 71


def test_three_official_style_splits_with_disjoint_test_groups(root):
    """As UCF-101's g01-07 / g08-14 / g15-21 of 25: split k tests its own groups; the rest train."""
    lists = os.path.join(root, "ucfTrainTestlist")
    tested = {}
    for split in (1, 2, 3):
        _, train, test = read_split(lists, split)                     # parses, no group leak
        assert (len(train), len(test)) == (12 * 3 * 2, 12 * 1 * 2)
        tested[split] = {group_of(rel)[1] for rel, _ in test}
        assert {group_of(rel)[1] for rel, _ in train} == {1, 2, 3, 4} - tested[split]
        assert len({rel for rel, _ in train + test}) == 12 * 4 * 2   # every video in one list or the other
    assert tested == {1: {1}, 2: {2}, 3: {3}}                          # g04 always trains
    with open(os.path.join(lists, "testlist02.txt"), "rb") as f:
        assert f.readline() == b"MoveRight/v_MoveRight_g02_c01.avi\r\n"
    with open(os.path.join(lists, "trainlist03.txt"), "rb") as f:
        assert f.readline() == b"MoveRight/v_MoveRight_g01_c01.avi 1\r\n"
    assert len(UCF101(root, split=3, train=False, resize=36, crop=32).videos) == 24


@pytest.mark.parametrize("groups,per_split", [(3, 1), (4, 1), (6, 2), (10, 3), (13, 4), (25, 7), (40, 11)])
def test_split_test_groups_scale_with_the_group_count(groups, per_split):
    """Split k tests the k-th run of round(7/25 of the groups) (at least 1, at most a third): disjoint."""
    runs = [list(split_test_groups(groups, split)) for split in (1, 2, 3)]
    assert runs == [list(range(1 + k * per_split, 1 + (k + 1) * per_split)) for k in range(3)]
    assert runs[2][-1] <= groups


def test_too_few_groups_for_three_splits_is_refused(tmp_path):
    with pytest.raises(ValueError, match="need groups >= 3"):
        generate(tmp_path, classes=2, groups=2)
    with pytest.raises(ValueError, match="split must be one of"):
        split_test_groups(25, 4)


def test_deterministic_by_seed(tmp_path):
    a = tree_digest(generate(tmp_path / "a", seed=1, classes=2, groups=3))
    assert a == tree_digest(generate(tmp_path / "b", seed=1, classes=2, groups=3))
    assert a != tree_digest(generate(tmp_path / "c", seed=2, classes=2, groups=3))


def test_pairs_hold_the_same_frames_in_reverse_order(root):
    for forward, backward, _ in PAIRS:
        for g in (1, 3):
            f = read_sampled(os.path.join(root, forward, f"v_{forward}_g{g:02d}_c02.avi"))
            b = read_sampled(os.path.join(root, backward, f"v_{backward}_g{g:02d}_c02.avi"))
            np.testing.assert_array_equal(f, b[::-1])               # same multiset of sampled frames
            steps = np.abs(np.diff(f.astype(float), axis=0)).mean(axis=(1, 2, 3))
            assert steps.min() > 0.5, f"{forward} g{g}: consecutive sampled frames barely differ"


def test_order_free_statistics_match_within_pairs_and_order_differs(root):
    """Frame-set statistics cannot separate a pair; the sign of a temporal difference can."""
    ds = UCF101(root, resize=None, crop=32, train=False)
    for p, (forward, backward, kind) in enumerate(PAIRS):
        stats = {}
        for label in (2 * p, 2 * p + 1):
            videos = [i for i, (_, l) in enumerate(ds.videos) if l == label]
            frames = [ds.frames(i).astype(float) for i in videos]
            stats[label] = (np.sort([f.mean() for f in frames]), np.sort([f.std() for f in frames]),
                            [f[-1].mean() - f[0].mean() for f in frames])
        np.testing.assert_allclose(stats[2 * p][0], stats[2 * p + 1][0], atol=0.05)
        np.testing.assert_allclose(stats[2 * p][1], stats[2 * p + 1][1], atol=0.05)
        if kind == "brighten":
            assert min(stats[2 * p][2]) > 5 and max(stats[2 * p + 1][2]) < -5


def test_render_reversal_and_cli_help():
    frames = render("move_x", 41, 64, 48, np.random.default_rng(0), np.random.default_rng(1))
    assert frames.shape == (41, 48, 64, 3) and frames.dtype == np.uint8
    columns = [np.argmax(np.abs(f.astype(float) - frames[0]).sum(axis=(0, 2)) > 0) for f in frames[::10]]
    with pytest.raises(ValueError, match="even"):
        class_names(7)
    out = subprocess.run([sys.executable, "-m", "tinyrrn.data.synthetic", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and all(flag in out.stdout for flag in
                                       ("--classes", "--groups", "--clips", "--size", "--frames", "--seed"))
    assert columns == sorted(columns)                               # moves right


@pytest.mark.parametrize("args,says", [
    (["--every", "0"], "error: argument --every: '0': must be an integer of at least 1"),
    (["--every", "-1"], "error: argument --every: '-1': must be an integer of at least 1"),
    (["--seed", "-1"], "error: argument --seed: '-1': must be an integer of at least 0"),
    (["--groups", "2"], "error: argument --groups: '2': must be an integer of at least 3"),
    (["--classes", "3"], "error: --classes 3: classes must be even, 2 to 12, got 3"),
    (["--frames", "42-45"], "error: --frames 42-45: frames range 42-45 holds no count of the form 10*m+1"),
    # a traceback (MemoryError) and a check of the range that never ended
    (["--size", "100000x100000"], "error: argument --size: --size '100000x100000': both numbers must be at most 1024"),
    (["--frames", "1-99999999999999999999"], "error: argument --frames: --frames '1-99999999999999999999': both "
                                             "numbers must be at most 2000"),
], ids=["every 0", "every -1", "seed -1", "groups 2", "classes 3", "frames", "size too large", "frames too many"])
def test_command_line_value_errors_are_usage_errors_naming_the_flag(tmp_path, capsys, args, says):
    from tinyrrn.data import synthetic
    out = tmp_path / "never"
    assert synthetic.main([str(out), *args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and err.startswith(says), err
    assert not out.exists()
    with pytest.raises(ValueError, match="every must be at least 1"):
        generate(str(out), every=0)


@pytest.fixture
def small_generate(monkeypatch):
    """synthetic.generate as the cache's generation calls it, but tiny; returns the list of folders it wrote."""
    from tinyrrn.data import synthetic
    calls, original = [], synthetic.generate

    def tiny(out_dir, seed=0):
        calls.append(out_dir)
        return original(out_dir, seed=seed, classes=2, groups=3, size=(16, 12), frames=(11, 11))
    monkeypatch.setattr(synthetic, "generate", tiny)
    return calls


def test_the_cached_dataset_appears_only_complete_and_a_killed_generation_leaves_none(tmp_path, small_generate,
                                                                                      monkeypatch):
    from tinyrrn.data import synthetic
    root = str(tmp_path / "synthetic-v3")
    original = synthetic.generate

    def killed(out_dir, seed=0):
        original(out_dir, seed)
        os.remove(os.path.join(out_dir, "ucfTrainTestlist", "testlist03.txt"))  # as if killed before the last list
        raise KeyboardInterrupt
    monkeypatch.setattr(synthetic, "generate", killed)
    with pytest.raises(KeyboardInterrupt):
        synthetic.generated_once(root)
    assert not os.path.exists(root)  # the partial dataset stays in its temporary folder, never in place
    monkeypatch.setattr(synthetic, "generate", original)
    assert synthetic.generated_once(root) == root
    assert sorted(os.listdir(tmp_path)) == ["synthetic-v3", "synthetic-v3.lock"]  # the leftover is removed
    assert read_split(os.path.join(root, "ucfTrainTestlist"), 3)[2]
    os.remove(os.path.join(root, "ucfTrainTestlist", "trainlist02.txt"))  # left by an older, non-atomic version
    synthetic.generated_once(root)
    assert read_split(os.path.join(root, "ucfTrainTestlist"), 2)[1] and len(small_generate) == 3


def test_processes_generating_the_cached_dataset_at_once_generate_it_once(tmp_path, small_generate):
    from concurrent.futures import ThreadPoolExecutor
    from tinyrrn.data import synthetic
    root = str(tmp_path / "synthetic-v3")
    with ThreadPoolExecutor(3) as pool:  # each call opens the lock file on its own, as a process would
        assert list(pool.map(lambda _: synthetic.generated_once(root), range(3))) == [root] * 3
    assert len(small_generate) == 1


def test_the_command_never_writes_into_a_folder_holding_files_and_a_dataset_appears_whole(tmp_path, monkeypatch,
                                                                                          capsys):
    from tinyrrn.data import synthetic
    small = ["--classes", "2", "--groups", "3", "--size", "16x12", "--frames", "11-11"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("kept")
    assert synthetic.main([str(tmp_path / "mine"), *small]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'mine'}: holds files already")
    assert os.listdir(tmp_path / "mine") == ["notes.txt"]
    assert synthetic.main([str(tmp_path / "mine" / "notes.txt"), *small]) == 2  # a file: said so, not "holds files"
    assert capsys.readouterr().err == (f"error: {tmp_path / 'mine' / 'notes.txt'}: a file (or a link to nothing), not a "
                                       "folder to write the dataset into; name a new or empty folder\n")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "kept"
    (tmp_path / "empty").mkdir()
    assert synthetic.main([str(tmp_path / "empty"), *small]) == 0
    assert len(os.listdir(tmp_path / "empty" / "ucfTrainTestlist")) == 7

    def killed(path, *args):
        raise KeyboardInterrupt
    monkeypatch.setattr(synthetic, "write_video", killed)
    assert synthetic.main([str(tmp_path / "stopped"), *small]) == 130
    assert sorted(os.listdir(tmp_path)) == ["empty", "mine"]  # no partial dataset, nothing temporary


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_rotating_pair_turns_the_way_its_names_say(seed, monkeypatch):
    """The rotate pair's first class, the one rendered forwards, turns anticlockwise on screen (y down) and was
    named RotateClockwise (its reverse RotateAnticlockwise): a classifier right about it was reported wrong by name."""
    from tinyrrn.data import synthetic
    monkeypatch.setattr(synthetic, "_background", lambda rng, w, h: (np.full((h, w, 3), 200, np.float32), False))
    frames = render("rotate", 11, 96, 96, np.random.default_rng(seed), np.random.default_rng(seed + 10))
    weight = np.abs(frames.astype(float) - 200).sum(axis=-1)          # the shape, on a plain background
    y, x = np.mgrid[0:96, 0:96]
    phases = []
    for w in weight:
        z = (x - (w * x).sum() / w.sum()) + 1j * (y - (w * y).sum() / w.sum())
        phases.append(np.angle((w * np.abs(z) ** 2 * np.exp(12j * np.angle(z))).sum()))  # 12: a triangle's and a square's
    turn = np.angle(np.exp(1j * np.diff(phases))).sum() / 12          # radians, > 0 from +x towards +y: clockwise
    forward = next(first for first, _, kind in PAIRS if kind == "rotate")
    assert forward == ("RotateClockwise" if turn > 0 else "RotateAnticlockwise"), np.degrees(turn)
    assert np.radians(20) < abs(turn) < np.radians(45)               # 25-40 degrees between sampled frames


@pytest.mark.parametrize("name", ["clip:1.avi", "-x.avi"])
def test_write_video_writes_a_relative_path_that_looks_like_an_ffmpeg_url_or_option(tmp_path, monkeypatch, name):
    """ffmpeg took a relative 'clip:1.avi' for a URL ('Protocol not found') and '-x.avi' for an option: generate
    into such a folder (python -m tinyrrn.data.synthetic --out -data) failed with a broken pipe."""
    from tinyrrn.data.synthetic import write_video
    monkeypatch.chdir(tmp_path)
    frames = np.broadcast_to((40 * np.arange(3, dtype=np.uint8))[:, None, None, None], (3, 24, 32, 3))
    write_video(name, np.ascontiguousarray(frames))
    assert os.path.isfile(tmp_path / name)
    np.testing.assert_allclose(read_sampled(name, every=1).mean(axis=(1, 2, 3)), [0, 40, 80], atol=2)
