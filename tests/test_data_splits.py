"""Parsing of the official UCF-101 split files (copied byte for byte into tests/data)."""
import os
import re
import shutil

import pytest

from tinyrrn.data.splits import group_of, in_groups, read_classes, read_split, validation_groups

LISTS = os.path.join(os.path.dirname(__file__), "data", "ucfTrainTestlist")


@pytest.mark.parametrize("split,n_train,n_test", [(1, 9537, 3783), (2, 9586, 3734), (3, 9624, 3696)])
def test_official_counts(split, n_train, n_test):
    classes, train, test = read_split(LISTS, split)
    assert len(classes) == 101 and (len(train), len(test)) == (n_train, n_test)
    assert len(train) + len(test) == 13320
    assert {label for _, label in train} == {label for _, label in test} == set(range(101))


def test_files_have_crlf_and_labels_become_zero_based():
    with open(os.path.join(LISTS, "trainlist01.txt"), "rb") as f:
        assert f.readline() == b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
    classes, train, test = read_split(LISTS, 1)
    assert classes[0] == "ApplyEyeMakeup" and classes[36] == "HandstandPushups" and classes[100] == "YoYo"
    assert train[0] == ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0)
    assert test[0] == ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", 0)   # label from the folder
    assert ("HandstandPushups/v_HandStandPushups_g01_c01.avi", 36) in test
    assert not any("\r" in rel for rel, _ in train + test)


def test_test_groups_match_ucf101():
    for split, groups in ((1, range(1, 8)), (2, range(8, 15)), (3, range(15, 22))):
        _, _, test = read_split(LISTS, split)
        assert {int(rel.split("_g")[1][:2]) for rel, _ in test} == set(groups)


def _copy_lists(tmp_path):
    target = tmp_path / "lists"
    shutil.copytree(LISTS, target)
    return target


def test_leaking_split_is_refused_naming_groups(tmp_path):
    lists = _copy_lists(tmp_path)
    with open(lists / "trainlist01.txt", "ab") as f:
        f.write(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g03_c01.avi 1\r\nYoYo/v_YoYo_g05_c02.avi 101\r\n")
    with pytest.raises(ValueError, match=r"split 1 leaks: 2 test group\(s\).*applyeyemakeup/g03, yoyo/g05"):
        read_split(lists, 1)


def test_a_video_in_both_the_train_and_the_test_list_is_named_with_the_lists(tmp_path):
    """The refusal named the groups alone ('split 1 leaks: 1 test group(s) also in its train list: yoyo/g05'): not
    the files, nor the video listed in both."""
    lists = _copy_lists(tmp_path)
    with open(lists / "trainlist01.txt", "ab") as f:
        f.write(b"YoYo/v_YoYo_g05_c02.avi 101\r\n")
    with pytest.raises(ValueError, match=r"split 1 leaks: 1 test group\(s\) of .*lists/testlist01.txt also in "
                                         r"trainlist01.txt: yoyo/g05; 1 video\(s\) are listed in both, e.g. "
                                         r"YoYo/v_YoYo_g05_c02.avi$"):
        read_split(lists, 1)


def test_bad_lines_name_file_and_line(tmp_path):
    lists = _copy_lists(tmp_path)
    with open(lists / "trainlist02.txt", "ab") as f:
        f.write(b"YoYo/v_YoYo_g22_c09.avi 5\r\n")
    with pytest.raises(ValueError, match=r"trainlist02.txt:9587: label 5 does not match class folder 'YoYo'"):
        read_split(lists, 2)
    (lists / "classInd.txt").write_bytes(b"1 A\r\n3 B\r\n")
    with pytest.raises(ValueError, match=r"classInd.txt:2: expected '2 ClassName'"):
        read_classes(lists)
    with pytest.raises(ValueError, match="split must be 1, 2 or 3"):
        read_split(lists, 4)


@pytest.mark.parametrize("split", [1.0, True, "1", 0])
def test_a_split_that_is_not_the_number_1_2_or_3_is_refused_naming_it(split):
    """split=1.0 was a ValueError about a format code ('d' for float), True the lists of split 1."""
    with pytest.raises(ValueError, match=f"split must be 1, 2 or 3, got {split!r}"):
        read_split(LISTS, split)


def test_validation_groups_are_whole_training_groups_fixed_by_the_seed():
    _, train, _ = read_split(LISTS, 1)
    groups = validation_groups(train, 3, seed=0)
    assert len(groups) == 3 and groups == sorted(groups) and set(groups) <= set(range(8, 26))  # split 1 trains g08-g25
    assert validation_groups(train, 3, seed=0) == groups
    assert len({tuple(validation_groups(train, 3, seed)) for seed in range(5)}) > 1
    assert validation_groups(train, 0, seed=0) == []
    # a group is chosen whatever other groups the list holds: a list without some unchosen group agrees
    unchosen = next(g for g in range(8, 26) if g not in groups)
    assert validation_groups([v for v in train if group_of(v[0])[1] != unchosen], 3, seed=0) == groups
    held = [rel for rel, _ in train if in_groups(rel, groups)]
    assert len(held) > 3 * 101 and {group_of(rel)[1] for rel in held} == set(groups)  # every class of each group
    with pytest.raises(ValueError, match=r"--val-groups 18: the training list has 18 groups \(g08-g25\); hold out 0 "
                                         "to 17 of them"):
        validation_groups(train, 18, seed=0)


@pytest.mark.parametrize("again", ["applyeyemakeup/v_applyeyemakeup_g08_c01.avi",
                                   "ApplyEyeMakeup/./v_ApplyEyeMakeup_g08_c01.avi",
                                   "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.AVI"])
def test_a_video_listed_again_in_another_spelling_is_refused(tmp_path, again):
    lists = _copy_lists(tmp_path)
    with open(lists / "trainlist01.txt", "ab") as f:
        f.write(f"{again} 1\r\n".encode())
    with pytest.raises(ValueError, match=rf"trainlist01.txt:9538: {re.escape(again)} is listed twice \(first on "
                                         r"line 1, as ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi\)"):
        read_split(lists, 1)


def test_split_files_with_a_byte_order_mark_are_read(tmp_path):
    lists = tmp_path / "lists"
    shutil.copytree(LISTS, lists)
    for name in ("classInd.txt", "trainlist02.txt", "testlist02.txt"):
        (lists / name).write_bytes(b"\xef\xbb\xbf" + (lists / name).read_bytes())  # as Windows editors save them
    assert read_split(str(lists), 2) == read_split(LISTS, 2)


def test_the_official_ucf101_split_2_tests_groups_split_1_trains_on():
    """Why evaluate refuses --split 2 for a model trained on split 1 (tinyrrn.evaluate.refuse_trained_videos)."""
    from tinyrrn.data.splits import shared_groups
    shared, names = shared_groups(read_split(LISTS, 1)[1], read_split(LISTS, 2)[2])
    assert {group for _, group in shared} == set(range(8, 15)) and names.endswith("and 697 more")


def test_a_class_listed_twice_in_classind_is_named_as_such(tmp_path):
    lists = tmp_path / "lists"
    shutil.copytree(LISTS, lists)
    with open(lists / "classInd.txt", "ab") as f:
        f.write(b"102 applyeyemakeup\r\n")
    with pytest.raises(ValueError, match=r"classInd.txt:102: class 'applyeyemakeup' is listed twice \(first on line 1\)"):
        read_classes(str(lists))


def test_a_train_line_without_its_label_is_refused_naming_file_and_line(tmp_path):
    # the official trainlist format is 'path label'; a bare path there is a damaged list, not a label to guess
    lists = _copy_lists(tmp_path)
    with open(lists / "trainlist01.txt", "ab") as f:
        f.write(b"YoYo/v_YoYo_g25_c09.avi\r\n")
    with pytest.raises(ValueError, match=r"trainlist01.txt:9538: expected 'Class/video.avi label' with a class of "
                                         r"classInd.txt, got 'YoYo/v_YoYo_g25_c09.avi'"):
        read_split(lists, 1)
    with open(lists / "testlist02.txt", "ab") as f:   # a test line may carry its label; a wrong one is refused
        f.write(b"YoYo/v_YoYo_g09_c09.avi 101\r\nYoYo/v_YoYo_g09_c08.avi 3\r\n")
    with pytest.raises(ValueError, match=r"testlist02.txt:3736: label 3 does not match class folder 'YoYo'"):
        read_split(lists, 2)


def test_split_files_separated_by_tabs_or_with_zero_padded_numbers_are_read_as_written(tmp_path):
    """The lists were split on any whitespace and classInd on a space alone ('1\\tApplyEyeMakeup' refused); classInd's
    '01' was 1 while a list's label '01' was refused as 'label 01 does not match ... (index 1 in classInd.txt)'."""
    lists = tmp_path / "lists"
    shutil.copytree(LISTS, lists)
    for name, old, new in (("classInd.txt", b" ", b"\t"), ("trainlist01.txt", b" 1\r\n", b"\t01\r\n")):
        (lists / name).write_bytes((lists / name).read_bytes().replace(old, new))
    assert read_split(str(lists), 1) == read_split(LISTS, 1)
    with open(lists / "trainlist01.txt", "ab") as f:
        f.write(b"YoYo/v_YoYo_g25_c09.avi one\r\n")
    with pytest.raises(ValueError, match=r"trainlist01.txt:9538: label 'one' is not a class number"):
        read_split(lists, 1)


def test_a_video_named_of_another_class_than_its_folder_is_refused_naming_file_and_line(tmp_path):
    """'ApplyEyeMakeup/v_YoYo_g08_c09.avi 1' (a YoYo clip filed in the wrong folder, or a line edited by hand) was
    labelled ApplyEyeMakeup from its folder in silence. Every official name is v_<its folder>_gGG_cCC.avi, up to case
    (HandstandPushups/v_HandStandPushups_*)."""
    lists = _copy_lists(tmp_path)
    with open(lists / "trainlist01.txt", "ab") as f:
        f.write(b"ApplyEyeMakeup/v_YoYo_g08_c09.avi 1\r\n")
    with pytest.raises(ValueError, match=r"trainlist01.txt:9538: 'ApplyEyeMakeup/v_YoYo_g08_c09.avi' is named as a "
                                         r"video of class 'YoYo' but lies in the folder of class 'ApplyEyeMakeup'"):
        read_split(lists, 1)


def test_names_in_either_unicode_form_are_one_name(tmp_path):
    """A list saved on macOS writes 'é' as 'e' and a combining accent (NFD): its class was not the classInd.txt class
    it prints as ('expected ... with a class of classInd.txt, got ...' naming what looks like one), and the same
    video listed in both forms was two videos."""
    import unicodedata
    nfc, nfd = "Caf\u00e9", unicodedata.normalize("NFD", "Caf\u00e9")
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "classInd.txt").write_text(f"1 {nfc}\r\n", encoding="utf-8")
    (lists / "trainlist01.txt").write_text(f"{nfd}/v_{nfd}_g08_c01.avi 1\r\n", encoding="utf-8")
    (lists / "testlist01.txt").write_text(f"{nfd}/v_{nfc}_g01_c01.avi\r\n", encoding="utf-8")
    classes, train, test = read_split(lists, 1)
    assert classes == [nfc] and [label for _, label in train + test] == [0, 0]
    with open(lists / "trainlist01.txt", "a", encoding="utf-8") as f:
        f.write(f"{nfc}/v_{nfc}_g08_c01.avi 1\r\n")
    with pytest.raises(ValueError, match=r"trainlist01.txt:2: .* is listed twice \(first on line 1"):
        read_split(lists, 1)
