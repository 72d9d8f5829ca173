"""`python -m tinyrrn.data.check` and the progress bar it shows."""
import io
import os
import subprocess
import sys

from tinyrrn.data.check import main
from tinyrrn.data.synthetic import generate
from tinyrrn.progress import Progress, progress


def test_check_lists_missing_and_bad_videos(tmp_path, capsys):
    root = generate(tmp_path, seed=0, classes=2, groups=3)
    assert main([str(root)]) == 0
    os.remove(os.path.join(root, "MoveLeft", "v_MoveLeft_g02_c01.avi"))
    with open(os.path.join(root, "MoveRight", "v_MoveRight_g01_c01.avi"), "w") as f:
        f.write("not a video")
    capsys.readouterr()
    assert main([str(root), "--split", "1"]) == 1
    out, err = capsys.readouterr()
    assert f"missing\t{os.path.join(root, 'MoveLeft/v_MoveLeft_g02_c01.avi')}" in out
    assert f"bad\t{os.path.join(root, 'MoveRight/v_MoveRight_g01_c01.avi')}\tcannot read metadata" in out
    assert "1 missing, 1 bad" in err and "check split 1 100% 6/6" in err
    help_text = subprocess.run([sys.executable, "-m", "tinyrrn.data.check", "--help"], capture_output=True, text=True).stdout
    assert all(flag in help_text for flag in ("--split", "--list-dir", "--every"))


def test_a_missing_list_dir_is_a_usage_error_naming_it(tmp_path, capsys):
    root = generate(tmp_path, seed=0, classes=2, groups=3)
    capsys.readouterr()
    assert main([str(root), "--list-dir", str(tmp_path / "nonexistent")]) == 2
    assert capsys.readouterr().err.strip() == (f"error: {tmp_path / 'nonexistent'}: no such folder of split files "
                                               "(classInd.txt, trainlist01.txt, ...): --list-dir")
    os.rename(os.path.join(root, "ucfTrainTestlist"), tmp_path / "lists")
    assert main([str(root)]) == 2
    assert capsys.readouterr().err.strip().endswith(f": {root} is not in UCF-101's layout, or give --list-dir")
    assert main([str(root), "--list-dir", str(tmp_path / "lists")]) == 0


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_quiet_off_terminal_and_live_on_one():
    log = io.StringIO()
    assert list(progress(range(5), desc="eval", stream=log)) == list(range(5))
    assert log.getvalue().count("\n") == 1 and log.getvalue().startswith("eval 100% 5/5 [")
    tty = FakeTTY()
    bar = Progress(total=4, desc="train", stream=tty, interval=0)
    bar.update(2, loss=0.123456)
    assert "\rtrain  50% 2/4 [" in tty.getvalue() and "loss=0.1235" in tty.getvalue()
    bar.close()
    bar.close()
    assert tty.getvalue().endswith("\n") and tty.getvalue().count("\n") == 1
    unknown = io.StringIO()
    with Progress(desc="scan", stream=unknown) as bar:
        bar.update(3)
    assert unknown.getvalue().startswith("scan 3 [")


def test_videos_are_checked_at_the_short_side_training_resizes_them_to(tmp_path, capsys, monkeypatch):
    """data.check decoded at a short side of 32, training at 256 (--resize): a video that cannot be resized so (a
    4000x1 one: 'Picture size 1024000x256 is invalid', found after seconds of ffmpeg's work) passed the check,
    then training and evaluation left it out as bad."""
    from tinyrrn.data import check
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    for name, text in (("classInd.txt", "1 A"), ("trainlist01.txt", "A/v_A_g02_c01.avi 1"), ("testlist01.txt", "")):
        (lists / name).write_text(text + "\r\n")
    os.mkdir(tmp_path / "A")
    (tmp_path / "A" / "v_A_g02_c01.avi").write_bytes(b"")
    sides = []
    monkeypatch.setattr(check, "read_checked", lambda path, every, short_side: sides.append(short_side))
    assert main([str(tmp_path)]) == main([str(tmp_path), "--resize", "48"]) == 0 and sides == [256, 48]
    capsys.readouterr()
    assert main([str(tmp_path), "--resize", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --resize 0: must be at least 1 (the frames' short side in pixels)"
