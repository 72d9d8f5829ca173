"""Video decoding with imageio-ffmpeg: frame counts from metadata and every k-th frame, resized.

Any container and codec the bundled ffmpeg reads works. Selecting every k-th frame and
resizing by the short side both run inside ffmpeg (`select` and `scale` filters), so only
the sampled, resized frames cross the pipe.
"""
import numbers
import os
import re
import struct
import subprocess
import warnings

import imageio_ffmpeg
import numpy as np

from ..files import special_file


class BadVideo(ValueError):
    """A video that cannot be used: unreadable, empty, truncated or without frames."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


def check_count(name, value, least):
    """Refuse a setting that is not an integer of at least ``least`` (a bool is none; torch's DataLoader refuses
    its batch_size and num_workers so): a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ValueError(f"{name} should be a {'positive' if least else 'non-negative'} integer, got {value!r}")


def _refuse_special_file(path):
    """BadVideo for a device, pipe or socket: reading it (ffmpeg's read too) would never end."""
    if special_file(path):
        raise BadVideo(path, "not a regular file (a device, pipe or socket), so it is not read")


def sampled_count(frames, every):
    """How many frames sampling every `every`-th frame (0, k, 2k, ...) takes from `frames`."""
    check_count("every", every, 1)
    return -(-frames // every)


def truncated(decoded, expected):
    """True when `decoded` sampled frames are too few for a video whose metadata promises `expected`: more
    than 10% and more than one sampled frame short. One frame short is always allowed, however short the
    video: a container's count can be one frame off what decodes (a last frame that does not), and sampling
    every k-th frame keeps that one frame. (Equal to `decoded < expected - max(1, expected // 10)`.)"""
    return expected - decoded > max(1, expected // 10)


def _avi_header(path):
    """(frames, rate) of an AVI's headers, or None if `path` does not start like an AVI. frames: the main header's
    dwTotalFrames, None where the file holds more than one video stream (the field is then the longest stream's
    count, not the first's, which is the one decoded). rate: the first video stream's frame rate, 'dwRate/dwScale'
    (None if its header has none), at which decoding repeats the frame before each null frame (`read_sampled`)."""
    with open(path, "rb") as f:
        head = f.read(52)
        if not (len(head) == 52 and head[:4] == b"RIFF" and head[8:12] == b"AVI " and head[20:28] == b"hdrlavih"):
            return None
        # the rest of the header list (it starts at byte 20): the stream headers, 'strh' <size> <type>
        streams = f.read(min(max(struct.unpack_from("<I", head, 16)[0] - 32, 0), 2**20))  # (-1 reads it all)
    videos = [match.start() for match in re.finditer(rb"strh.{4}vids", streams, re.S)]
    has_rate = videos and len(streams) >= videos[0] + 36
    scale, rate = struct.unpack_from("<II", streams, videos[0] + 28) if has_rate else (0, 0)
    frames = struct.unpack_from("<I", head, 48)[0] if len(videos) < 2 else None
    return frames, (f"{rate}/{scale}" if rate and scale else None)


# MPEG-TS packet sizes and where each packet's sync byte 0x47 is: plain TS (188), M2TS (a 4-byte time stamp first,
# as Blu-ray and AVCHD cameras write) and TS with Reed-Solomon parity (204)
TS_PACKETS = ((188, 0), (192, 4), (204, 0))
TS_PACKET = 188  # bytes of an MPEG-TS packet itself, starting with its sync byte
TS_TAIL = 4 * 2**20  # bytes at the end of an MPEG-TS searched for each stream's last PES packet


def _ts_packet_size(head):
    """(packet size, sync byte offset) of an MPEG-TS whose first bytes are `head`, or None for another file."""
    for size, sync in TS_PACKETS:
        if len(head) > 2 * size + sync and head[sync] == head[sync + size] == head[sync + 2 * size] == 0x47:
            return size, sync
    return None


def _ts_stuffing(packet):
    """Bytes of adaptation-field stuffing in one 188-byte TS packet: what fills a packet whose PES ends in it."""
    if not packet[3] & 0x20:  # no adaptation field
        return 0
    if packet[4] == 0:  # an adaptation field of its length byte alone: one byte of stuffing
        return 1
    flags, used = packet[5], 1
    used += 6 * bool(flags & 0x10) + 6 * bool(flags & 0x08) + bool(flags & 0x04)  # PCR, OPCR, splice countdown
    for flag in (0x02, 0x01):  # private data, extension: each with its length byte
        if flags & flag and 5 + used < len(packet):
            used += 1 + packet[5 + used]
    return packet[4] - used


def _ts_cut(path, f, size, packet, sync):
    """How an MPEG-TS (`path`, open as `f`, of `size` bytes) shows it was cut short in a stream's last PES packet, or None.

    A PES packet (a frame, or some of the sound) starts a TS packet's payload, so the TS packet where one ends is
    filled with stuffing. A stream's last PES packet is cut when it holds fewer bytes than its length field says
    (the sound's; ffmpeg leaves the video's 0, unbounded), or when it has no length and its last TS packet is full
    without stuffing: its frame either goes on past the cut or exactly fills the packet, which decoding tells apart
    (`_decodes_damaged`). A cut at the end of a PES packet leaves a valid, shorter stream: nothing tells it."""
    whole = size - size % packet
    start = max(0, whole - TS_TAIL) // packet * packet
    f.seek(start)
    tail = np.frombuffer(f.read(whole - start), np.uint8).reshape(-1, packet)[:, sync:sync + TS_PACKET]
    tail = tail[tail[:, 0] == 0x47]
    pid = (tail[:, 1].astype(np.int64) & 0x1F) << 8 | tail[:, 2]
    starts = tail[:, 1] & 0x40 != 0  # payload_unit_start_indicator: a PES packet (or a table) starts here
    has_payload, adaptation = tail[:, 3] & 0x10 != 0, tail[:, 3] & 0x20 != 0
    offset = 4 + np.where(adaptation, 1 + tail[:, 4].astype(np.int64), 0)
    payload = np.where(has_payload, np.maximum(TS_PACKET - offset, 0), 0)
    for stream in np.unique(pid[starts]):
        rows = np.flatnonzero(pid == stream)
        first = rows[starts[rows]][-1]
        head = tail[first, offset[first]:]
        if len(head) < 6 or head[:3].tobytes() != b"\0\0\1":  # a table (PAT, PMT, ...), not a PES packet
            continue
        length, held = int(head[4]) << 8 | int(head[5]), int(payload[rows[rows >= first]].sum())
        if length and held < 6 + length:
            return f"the last PES packet of its stream {stream} is cut ({held} of its {6 + length} bytes)"
        if not length and not _ts_stuffing(tail[rows[-1]]):
            damage = _decodes_damaged(path)
            if damage:
                return f"the last PES packet of its stream {stream} fills its TS packet and ffmpeg says {damage!r}"
    return None


def _decodes_damaged(path):
    """What ffmpeg says first decoding the video stream (VIDEO_STREAM) of `path` that shows damaged frames, or None."""
    _, _, err = _run_ffmpeg(["-i", ffmpeg_path(path), "-map", VIDEO_STREAM, "-f", "null", "-"], level="level+warning")
    damage = [line for line in err.splitlines() if "[error] " in line or "corrupt decoded frame" in line]
    return _untagged(damage[0]) if damage else None


def _cut_short(path):
    """How a file shows by its own structure that it was cut short, or None: an AVI whose RIFF header promises more
    bytes than it holds (one pad byte aside), an MPEG-TS whose last packet is not whole, or in which a stream's last
    PES packet is cut (`_ts_cut`). ffmpeg reads what is left of either in silence, as a shorter video (of other
    containers, it says so). An MPEG-TS cut at the end of a PES packet is a shorter stream, to ffmpeg and to this
    check alike. None also for a file that cannot be read (its reader says so)."""
    try:
        with open(path, "rb") as f:
            head, size = f.read(3 * 204 + 1), os.fstat(f.fileno()).st_size
            if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
                riff = struct.unpack_from("<I", head, 4)[0]
                if riff not in (0, 2**32 - 1) and size < riff + 8 - 1:  # 0, 0xFFFFFFFF: a streamed AVI's, not known
                    return f"its RIFF header promises {riff + 8} bytes, the file holds {size}"
            elif (ts := _ts_packet_size(head)) is not None:
                packet, sync = ts
                if size % packet:
                    return f"its last MPEG-TS packet is cut ({size % packet} of {packet} bytes)"
                return _ts_cut(path, f, size, packet, sync)
    except OSError:
        return None
    return None


# The version of how videos are counted and decoded, kept with every count and frame cache entry (and feature
# folder) made under it: bumped whenever a change would count or decode a file already seen otherwise, so that
# those are made afresh. 2: sound files with cover art are refused (VIDEO_STREAM), no longer read as one frame.
# 3: an AVI's null frames are frames, repeating the one before (they were skipped: the frames after came early).
# 4: an MP4's or MOV's packets its edit list discards are not counted (they were: a trimmed clip counted too many).
# 5: an MPEG-TS (or M2TS) cut within a stream's last PES packet is refused (`_ts_cut`; it was read as a shorter video).
DECODING = 5

def decoder():
    """What counts and decodes a video here, kept with every count and frame cache entry made by it: the rule
    (DECODING) and the ffmpeg that runs it (its path, size and modification time: an upgraded imageio-ffmpeg, or
    IMAGEIO_FFMPEG_EXE naming another binary, can decode a file otherwise)."""
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    stat = os.stat(exe)
    return [DECODING, exe, stat.st_size, stat.st_mtime_ns]


# The stream counted and decoded: the first video stream, not counting pictures attached to sound (cover art,
# which ffmpeg's 'v' would take: an MP3 or M4A named .avi read as a video of its cover), as ffmpeg's 'V' selects.
VIDEO_STREAM = "0:V:0"

# Every stored frame takes at least this many bytes (an AVI frame chunk's header alone), so a
# count above size / MIN_BYTES_PER_FRAME cannot be true.
MIN_BYTES_PER_FRAME = 8


# What ffmpeg says reading a container cut short or damaged, in any of its streams (a cut that took only the end of
# the sound is a cut file too): its demuxer's errors ('partial file', 'File ended prematurely'), a corrupt packet
# (a cut MP4's sound) or a truncated one (a cut MKV's sound, an error said without the demuxer's tag).
_DAMAGE = re.compile(r"^\[in#.*\[error\]|Packet corrupt|Truncating packet")


# A packet's flag (framecrc's F=0x..) that its frame is decoded and then dropped: the packets an MP4's or MOV's edit
# list leaves out, e.g. those from the key frame before the cut of a clip trimmed by stream copy (ffmpeg -ss -c copy).
DISCARDED = 0x4


def _probed_frame_count(path, avi=False):
    """The frames of the first video stream (VIDEO_STREAM), as ffmpeg counts them copying its packets, and the sound's,
    to nowhere (nothing is decoded; BadVideo when ffmpeg finds the container cut short or damaged: the frames left
    are not its count). Not the container's duration x frame rate: that duration is its longest stream's, so a sound
    track that runs on (4 s of sound, 2 s of video) counted frames the video does not have. Packets marked
    DISCARDED are not counted: their frames are not decoded. Of an `avi`, the frame slots its packets' timestamps
    span (an AVI's time unit is one frame), so that its null frames count, as they decode."""
    cut = _cut_short(path)
    if cut:
        raise BadVideo(path, f"truncated: {cut}")
    code, out, err = _run_ffmpeg(["-i", ffmpeg_path(path), "-map", VIDEO_STREAM, "-map", "0:a?", "-c", "copy",
                                  "-f", "framecrc", "-"], level="level+warning")
    packets = re.findall(rb"^0,\s*(-?\d+),(.*)$", out, re.M)  # each video packet's line: stream 0, dts, pts, ...
    if code or not packets:
        raise RuntimeError("no video stream" if "matches no streams" in err else _first_error(err, code))
    damage = sorted((line for line in err.splitlines() if _DAMAGE.search(line)), key=lambda line: "[warning] " in line)
    if damage:  # an error first: the corrupt packets follow from it
        raise BadVideo(path, f"truncated or damaged: ffmpeg says {_untagged(damage[0])!r} counting its frames")
    flags = [re.search(rb", F=0x([0-9A-Fa-f]+)", rest) for _, rest in packets]  # none on a plain key frame's line
    stamps = [int(dts) for (dts, _), flag in zip(packets, flags) if not (flag and int(flag[1], 16) & DISCARDED)]
    if not stamps:
        return 0
    return stamps[-1] - stamps[0] + 1 if avi else len(stamps)


def frame_count(path):
    """Frame count from container metadata, without decoding the video.

    AVI: the main header's total-frames field (read directly, ~20 us; its null frames count). Other containers, and an
    AVI whose header claims more frames than its file size can hold (a corrupt header would skew
    the whole run's plan) or none (writers that stream an AVI leave the field 0): the frames ffmpeg counts
    in the first video stream, without decoding them. Raises BadVideo if the file cannot be opened, reports no frames,
    or no plausible count, or if ffmpeg counts it and finds it cut short (an AVI's header promises the frames of the
    whole file: decoding finds the cut, `read_sampled`).
    """
    _refuse_special_file(path)
    try:
        size = os.path.getsize(path)
        avi = _avi_header(path)
        header = count = avi and avi[0]
        if not count or count * MIN_BYTES_PER_FRAME > size:
            count = _probed_frame_count(path, avi is not None)
    except (OSError, RuntimeError) as err:
        raise BadVideo(path, f"cannot read metadata ({str(err).splitlines()[0] if str(err) else type(err).__name__})")
    if count * MIN_BYTES_PER_FRAME > size:
        raise BadVideo(path, f"its header claims {count} frames, more than its {size} bytes can hold")
    if count <= 0:
        raise BadVideo(path, "zero frames")
    if header is not None and header != count:
        claim = "no frames" if header == 0 else f"{header} frames, more than its {size} bytes can hold"
        warnings.warn(f"{path}: the AVI header claims {claim}; "
                      f"using the frames ffmpeg counts in its video stream: {count}", stacklevel=2)
    return count


def ffmpeg_path(path):
    """A file's path as ffmpeg must be given it to read or write that file: absolute, since ffmpeg takes a relative
    'clip:1.mp4' for a URL of protocol 'clip' (and 'pipe:0.mp4' for its standard input)."""
    return os.path.abspath(path)


def _scale_filter(short_side):
    """ffmpeg filter resizing the shorter image side to `short_side`, keeping the aspect ratio."""
    s = int(short_side)
    return f"scale=w='if(lte(iw,ih),{s},-1)':h='if(lte(iw,ih),-1,{s})':flags=area"


def _run_ffmpeg(args, level="error"):
    """Run the bundled ffmpeg, saying what is at least as grave as `level` (its -v); returns (returncode, stdout
    bytes, stderr text).

    start_new_session keeps Ctrl-C from killing ffmpeg mid-video (the trainer
    checkpoints first), and, unlike imageio-ffmpeg's preexec_fn, lets Python
    start the child with vfork: a plain fork() from a decoding thread runs
    OpenBLAS's fork handler, which can deadlock a matrix product running at
    the same moment in the training thread.
    """
    process = subprocess.Popen([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", level, *args],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    out, err = process.communicate()
    return process.returncode, out, err.decode(errors="replace")


def _first_error(err, code):
    """What ffmpeg's error output `err` says went wrong first (its later lines follow from it, down to 'Nothing was
    written into output file'; its warnings are not what went wrong), untagged; its exit status when it says nothing."""
    lines = [_untagged(line) for line in err.strip().splitlines() if "[warning] " not in line]
    return lines[0] if lines else f"ffmpeg exit status {code}"


def _untagged(line):
    """A line of ffmpeg's error output without its '[component @ 0x...] ' and '[error] ' tags."""
    return re.sub(r"^(\[[^]]*\] )+", "", line)


def _split_ppm_stream(data):
    """Frames (n, H, W, 3) from concatenated binary PPM images (P6) of one size; None when `data` does
    not start with one, ValueError when its images are not all of the first one's size (a video whose
    frame size changes: read at the first size, their bytes would be frames of garbage)."""
    header = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", data)
    if header is None:
        return None
    width, height = int(header.group(1)), int(header.group(2))
    size = header.end() + width * height * 3
    count = len(data) // size
    images = np.frombuffer(data, np.uint8, count * size).reshape(count, size)
    if len(data) != count * size or (images[:, :header.end()] != images[0, :header.end()]).any():
        raise ValueError("the frames ffmpeg gave are not whole frames of one size")
    return images[:, header.end():].reshape(count, height, width, 3)


def read_sampled(path, every=10, short_side=None, expected=None):
    """Frames 0, k, 2k, ... (k = `every`) of a video's first video stream (the one `frame_count` counts) as
    uint8 RGB (n, H, W, 3). An AVI's null frames (empty chunks, which its writer stores for frames it dropped,
    and which its header counts) are frames too, repeating the one before, as ffmpeg's own AVI-to-AVI copy does.

    `short_side` resizes so that min(H, W) == short_side. With `expected` (the sampled count
    from metadata) a video more than 10% and more than one sampled frame short of it is
    reported as truncated (`truncated`), and one that decodes more than one sampled frame past it is warned
    about (its chunks, planned from the metadata, leave the rest out). Raises BadVideo for unreadable, empty,
    zero-frame or truncated videos, and for a file cut short (`_cut_short`), however many frames it decodes.
    Frames come through the pipe as PPM images, whose headers carry the output size.
    """
    check_count("every", every, 1)
    if short_side is not None:
        check_count("short_side", short_side, 1)
    _refuse_special_file(path)
    try:
        avi = _avi_header(path)
    except OSError:  # ffmpeg says what is wrong with the file, below
        avi = None
    repeat = [f"fps={avi[1]}"] if avi and avi[1] else []  # an AVI's null frames: the frame before, again
    filters = repeat + [f"select='not(mod(n,{every}))'"] + ([_scale_filter(short_side)] if short_side else [])
    try:
        code, data, err = _run_ffmpeg(["-i", ffmpeg_path(path), "-map", VIDEO_STREAM, "-vf", ",".join(filters),
                                       "-fps_mode", "passthrough", "-pix_fmt", "rgb24", "-f", "image2pipe", "-vcodec", "ppm", "-"])
    except OSError as err:
        raise BadVideo(path, f"cannot start ffmpeg ({err})")
    try:
        frames = _split_ppm_stream(data)
    except ValueError as problem:
        raise BadVideo(path, f"cannot decode: {problem}") from None
    if frames is None or len(frames) == 0:
        detail = "no video stream" if "matches no streams" in err else _first_error(err, code)
        raise BadVideo(path, f"cannot decode: no frames ({detail})")
    if expected is not None and truncated(len(frames), expected):
        raise BadVideo(path, f"truncated: decoded {len(frames)} sampled frames, metadata promises {expected}")
    cut = _cut_short(path)
    if cut:  # decoded as far as it goes, maybe as many sampled frames as promised: its last frames are not all there
        raise BadVideo(path, f"truncated: {cut}")
    if expected is not None and len(frames) > expected + 1:  # a header that under-counts: said, not silent
        warnings.warn(f"{path}: decoded {len(frames)} sampled frames, more than the {expected} its metadata promises; "
                      "its chunks are planned from the metadata, so the frames after those are not used", stacklevel=2)
    return frames


def read_checked(path, every=10, short_side=None):
    """`read_sampled` held to the video's own metadata (`frame_count`): BadVideo also for a video that
    decodes too short of the frames its container promises (`truncated`), as the dataset's rule is.
    For a video checked outside any dataset (tinyrrn.data.check; tinyrrn.predict also needs the count, for
    its chunks, and calls the two itself)."""
    return read_sampled(path, every, short_side, expected=sampled_count(frame_count(path), every))
