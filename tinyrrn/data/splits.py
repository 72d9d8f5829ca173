"""The official UCF-101 split files (`ucfTrainTestlist/`), parsed as they are published.

`classInd.txt` has lines `1 ApplyEyeMakeup` (1-based), `trainlistNN.txt` lines
`Class/v_Class_gGG_cCC.avi 7` (1-based label), `testlistNN.txt` the same without the label.
Files have CRLF line ends. Labels returned here are 0-based; a test video's label is its
class folder's index. A train line must carry its label, as every official one does (a line
without it is a damaged or hand-made list, refused naming file:line rather than labelled from
its folder); a line's label, in either list, must be its class folder's index in classInd.txt, and a
name v_Class_gGG_cCC.avi must name its folder's class (a clip of another class filed there would get its label).
Names are compared as `name_key` does: case-insensitively, in one Unicode form.
Clips of one group (gGG) of a class share source footage, so a split
whose test groups also appear in its train list leaks and is refused. So are lists that name
a video twice (compared as the case-insensitive resolver finds them: 'A/v.avi' and 'a/./V.AVI'
are one video), or whose paths leave the dataset folder ('..', absolute paths: checked on the
text, so class folders that are symlinks stay fine). An empty list is refused where it is used
(tinyrrn.data.UCF101).

UCF-101 has no validation split. ``validation_groups`` holds out whole groups of a training
list instead (all classes' clips of each chosen gNN, as the official splits hold out g01-g07 for
testing), so a model can be selected on videos that share no source footage with its training
videos -- and never on the test split.
"""
import numbers
import os
import posixpath
import re
import unicodedata

import numpy

from ..files import refuse_special_file

_GROUP = re.compile(r"_g(\d+)_c(\d+)\.[^./]+$")
_NAMED_CLASS = re.compile(r"(?:^|/)v_([^/]+)_g\d+_c\d+\.[^./]+$")  # the Class of a name v_Class_gGG_cCC.avi


def name_key(name):
    """A file or class name as the dataset's lookups compare it: case-insensitively (UCF-101's HandstandPushups
    folder holds v_HandStandPushups_* files) and in one Unicode form (NFC: a name copied from macOS, which stores
    'é' as 'e' and an accent, is the name typed as 'é')."""
    return unicodedata.normalize("NFC", name).lower()


def _lines(path):
    """Non-blank (line number, stripped text) pairs of a UTF-8 text file with any line ends (a leading
    byte-order mark, which some editors write, is not text). A device or pipe is refused, unread (never ends)."""
    refuse_special_file(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise ValueError(f"{path}:{line}: not UTF-8 text (byte 0x{data[err.start]:02x})") from None
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _number(text):
    """The whole number that ``text`` writes in ASCII digits ('07' is 7), or None."""
    return int(text) if text.isascii() and text.isdigit() else None


def _leaves_folder(rel):
    """True for a path that could point outside the dataset folder: absolute, or with a '..' part."""
    return rel.startswith("/") or re.match(r"^[A-Za-z]:", rel) is not None or ".." in rel.split("/")


def read_classes(list_dir):
    """Class names from `classInd.txt`, position = 0-based label."""
    path = os.path.join(list_dir, "classInd.txt")
    classes, first = [], {}  # the line each class folder (compared as the resolver finds it) is first named on
    for n, line in _lines(path):
        index, name = (line.split(None, 1) + [""])[:2]  # separated as the lists' fields are: by any whitespace
        if _number(index) != len(classes) + 1 or not name:
            raise ValueError(f"{path}:{n}: expected '{len(classes) + 1} ClassName', got {line!r}")
        if name_key(name) in first:
            raise ValueError(f"{path}:{n}: class {name!r} is listed twice (first on line {first[name_key(name)]}); "
                             "each class folder has one label")
        first[name_key(name)] = n
        classes.append(name)
    if not classes:
        raise ValueError(f"{path}: no classes")
    return classes


def read_list(list_dir, split, train, classes):
    """[(relative_path, 0-based label)] of `trainlistNN.txt` or `testlistNN.txt`."""
    path = os.path.join(list_dir, f"{'train' if train else 'test'}list{split:02d}.txt")
    by_folder = {name_key(name): i for i, name in enumerate(classes)}
    videos, first = [], {}  # the normalised path of each video listed: (its first line, its text there)
    for n, line in _lines(path):
        fields = line.split()
        rel = fields[0].replace("\\", "/")
        if _leaves_folder(rel):
            raise ValueError(f"{path}:{n}: {rel!r} leaves the dataset folder (an absolute path or '..'); "
                             "expected 'Class/video.avi'")
        same = name_key(posixpath.normpath(rel))  # one video for the resolver (data.ucf101), as name_key compares
        if same in first:
            at, text = first[same]
            raise ValueError(f"{path}:{n}: {rel} is listed twice (first on line {at}"
                             + (f", as {text})" if text != rel else ")"))
        first[same] = n, rel
        folder = name_key(rel.split("/")[0])
        expected = "'Class/video.avi label'" if train else "'Class/video.avi' (the label is optional)"
        if len(fields) > 2 or (train and len(fields) < 2) or "/" not in rel or folder not in by_folder:
            raise ValueError(f"{path}:{n}: expected {expected} with a class of classInd.txt, got {line!r}")
        if _GROUP.search(rel) is None:
            raise ValueError(f"{path}:{n}: {rel!r} is not named like UCF-101's Class/v_Class_gGG_cCC.avi "
                             "(the group gGG keeps clips of one source footage out of both train and test)")
        named = _NAMED_CLASS.search(rel)
        if named and name_key(named.group(1)) != folder:
            raise ValueError(f"{path}:{n}: {rel!r} is named as a video of class {named.group(1)!r} but lies in the "
                             f"folder of class {rel.split('/')[0]!r}, whose label it would be given")
        label = by_folder[folder]
        if len(fields) == 2 and _number(fields[1]) is None:
            raise ValueError(f"{path}:{n}: label {fields[1]!r} is not a class number (1-{len(classes)} of classInd.txt)")
        if len(fields) == 2 and _number(fields[1]) != label + 1:
            raise ValueError(f"{path}:{n}: label {fields[1]} does not match class folder "
                             f"{rel.split('/')[0]!r} (index {label + 1} in classInd.txt)")
        videos.append((rel, label))
    return videos


def group_of(rel):
    """The source-footage group of a UCF-101 video path: ('Class', 8) for 'Class/v_Class_g08_c01.avi'."""
    match = _GROUP.search(rel)
    if match is None:
        raise ValueError(f"{rel!r} is not named like UCF-101's Class/v_Class_gGG_cCC.avi")
    return name_key(rel.split("/")[0]), int(match.group(1))


def validation_groups(train_videos, count, seed):
    """The ``count`` group numbers (the NN of gNN) of a training list held out for validation, sorted.

    Each group number gets a random key drawn from (seed, number) alone and the ``count`` lowest
    keys are held out: the choice is fixed by the seed, and whether a group is chosen does not
    depend on which other groups the list holds (features of a list that lost a bad video pick
    the same groups). At least one group is left to train on.
    """
    groups = sorted({group for _, group in map(group_of, (rel for rel, _ in train_videos))})
    if not groups and count:
        raise ValueError(f"--val-groups {count}: the training list holds no videos to hold out")
    if not 0 <= count < len(groups):
        raise ValueError(f"--val-groups {count}: the training list has {len(groups)} groups "
                         f"(g{groups[0]:02d}-g{groups[-1]:02d}); hold out 0 to {len(groups) - 1} of them")
    keys = [numpy.random.default_rng([seed, group]).random() for group in groups]
    return sorted(groups[i] for i in numpy.argsort(keys, kind="stable")[:count])


def in_groups(rel, groups):
    """True when video ``rel`` belongs to one of the group numbers ``groups``."""
    return group_of(rel)[1] in groups


def shared_groups(train_videos, test_videos):
    """The (class, group) pairs of source footage that both lists hold, sorted, and a short text naming them."""
    shared = sorted({group_of(rel) for rel, _ in test_videos} & {group_of(rel) for rel, _ in train_videos})
    names = ", ".join(f"{c}/g{g:02d}" for c, g in shared[:10])
    return shared, names + (f" and {len(shared) - 10} more" if len(shared) > 10 else "")


def check_no_leak(train_videos, test_videos, split, list_dir):
    """Raise ValueError naming the split's lists, the groups that appear in both, and a video listed in both."""
    shared, names = shared_groups(train_videos, test_videos)
    if shared:
        trained = {name_key(posixpath.normpath(rel)) for rel, _ in train_videos}
        both = [rel for rel, _ in test_videos if name_key(posixpath.normpath(rel)) in trained]
        raise ValueError(f"split {split} leaks: {len(shared)} test group(s) of {list_dir}/testlist{split:02d}.txt also "
                         f"in trainlist{split:02d}.txt: {names}"
                         + (f"; {len(both)} video(s) are listed in both, e.g. {both[0]}" if both else ""))


def read_split(list_dir, split=1):
    """(classes, train_videos, test_videos) of split 1-3 in `list_dir`, checked for leaks."""
    if isinstance(split, bool) or not isinstance(split, numbers.Integral) or split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split!r}")
    classes = read_classes(list_dir)
    train = read_list(list_dir, split, True, classes)
    test = read_list(list_dir, split, False, classes)
    check_no_leak(train, test, split, list_dir)
    return classes, train, test
