"""Decoding, sampling every k-th frame, resizing, normalisation and bad-video detection."""
import numpy as np
import pytest

from tinyrrn.data import BadVideo, Normalize, frame_count, read_sampled
from tinyrrn.data.synthetic import write_video


def index_video(path, n=45, size=(80, 60), codec="mjpeg"):
    """A video whose frame i is uniformly grey with value 5 * i (the frame index as brightness)."""
    frames = np.broadcast_to((5 * np.arange(n, dtype=np.uint8))[:, None, None, None], (n, size[1], size[0], 3))
    write_video(path, np.ascontiguousarray(frames), codec=codec)
    return path


def test_every_kth_frame_is_taken(tmp_path):
    path = index_video(tmp_path / "v.avi")
    assert frame_count(path) == 45
    frames = read_sampled(path, every=10)
    assert frames.shape == (5, 60, 80, 3) and frames.dtype == np.uint8
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), [0, 50, 100, 150, 200], atol=2)
    np.testing.assert_allclose(read_sampled(path, every=7).mean(axis=(1, 2, 3)), 5 * np.arange(0, 45, 7), atol=2)


def test_resize_by_short_side_and_mp4(tmp_path):
    avi = index_video(tmp_path / "v.avi")
    assert read_sampled(avi, 10, short_side=36).shape == (5, 36, 48, 3)
    mp4 = index_video(tmp_path / "v.mp4", n=31, size=(64, 96), codec="mpeg4")    # portrait, other container
    assert frame_count(mp4) == 31
    frames = read_sampled(mp4, 10, short_side=32)
    assert frames.shape == (4, 48, 32, 3)
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), [0, 50, 100, 150], atol=3)


def test_normalize_conventions():
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    frames[..., 0], frames[..., 1], frames[..., 2] = 255, 128, 0                 # RGB
    tv = Normalize("torchvision")(frames)
    assert tv.shape == (2, 3, 4, 4) and tv.dtype == np.float32
    np.testing.assert_allclose(tv[0, :, 0, 0], [(1 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, -0.406 / 0.225], rtol=1e-5)
    caffe = Normalize("caffe")(frames)                                          # BGR, 0-255, minus mean
    np.testing.assert_allclose(caffe[1, :, 3, 3], [0 - 103.939, 128 - 116.779, 255 - 123.68], rtol=1e-5)
    with pytest.raises(ValueError, match="'torchvision' or 'caffe'"):
        Normalize("tf")
    with pytest.raises(ValueError, match=r"shape \(4, 4, 3\)"):
        Normalize()(frames[0])


@pytest.mark.parametrize("dtype", ["float32", "float64", "uint16", "int64", "bool"])
def test_normalize_refuses_frames_that_are_not_uint8(dtype):
    """Frames already scaled to [0, 1] (float) or 16-bit were normalised as if 0-255 bytes: silently other inputs."""
    with pytest.raises(TypeError, match=f"Normalize expects uint8 frames .*, got {dtype}"):
        Normalize()(np.zeros((2, 4, 4, 3), dtype))


def test_bad_videos_raise_naming_the_file(tmp_path):
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    text = tmp_path / "text.avi"
    text.write_text("this is not a video\n" * 20)
    for path in (empty, text):
        with pytest.raises(BadVideo, match=str(path)):
            frame_count(path)
        with pytest.raises(BadVideo, match="cannot decode"):
            read_sampled(path)
    good = index_video(tmp_path / "good.avi", n=101)
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    assert frame_count(truncated) == 101                                      # the header still promises 101
    with pytest.raises(BadVideo, match=r"truncated.avi: truncated: decoded \d sampled frames, metadata promises 11"):
        read_sampled(truncated, 10, expected=11)


def test_ffmpeg_is_started_without_preexec_fn(monkeypatch, tmp_path):
    """A preexec_fn forces fork(), whose OpenBLAS handler can deadlock training; a new session does not."""
    import subprocess
    from tinyrrn.data import video
    path = index_video(tmp_path / "v.avi", n=21)
    seen = {}
    real = subprocess.Popen

    def recording(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)
    monkeypatch.setattr(video.subprocess, "Popen", recording)
    video.read_sampled(path, every=10)
    assert seen.get("start_new_session") is True and seen.get("preexec_fn") is None


def test_a_video_of_10_bit_colour_is_read(tmp_path):
    """ffmpeg would pipe 16-bit PPM frames for it; tinyrrn asks for 8-bit RGB whatever the source."""
    import imageio_ffmpeg
    path = str(tmp_path / "ten_bit.mp4")
    writer = imageio_ffmpeg.write_frames(path, (32, 24), codec="libx264", pix_fmt_out="yuv420p10le",
                                         macro_block_size=1, quality=None)
    writer.send(None)
    for i in range(12):
        writer.send(np.full((24, 32, 3), i * 20, np.uint8).tobytes())
    writer.close()
    frames = read_sampled(path, every=2)
    assert frames.shape == (6, 24, 32, 3) and frames.dtype == np.uint8


def test_an_avi_header_claiming_no_frames_is_counted_by_ffmpeg(tmp_path):
    """Writers that stream an AVI leave its main header's total-frames field 0. Such a video decodes whole, yet
    it was skipped as "zero frames" by data.check, train, evaluate, features and predict alike."""
    path = index_video(str(tmp_path / "streamed.avi"), n=21)
    with open(path, "r+b") as f:
        f.seek(48)
        f.write(b"\0\0\0\0")                              # dwTotalFrames of the AVI main header
    with pytest.warns(UserWarning, match=r"header claims no frames; using the frames ffmpeg counts in its video stream: 21"):
        assert frame_count(path) == 21
    assert len(read_sampled(path, every=10)) == 3


def test_an_avi_header_that_under_counts_is_warned_about(tmp_path):
    """An 81-frame AVI whose header claims 21 was planned as 21 frames (1 chunk instead of 4) by train, evaluate,
    features and predict alike, and nothing said so. The decode that finds more frames now warns, naming the file."""
    path = index_video(str(tmp_path / "long.avi"), n=81)
    with open(path, "r+b") as f:
        f.seek(48)
        f.write((21).to_bytes(4, "little"))
    assert frame_count(path) == 21
    with pytest.warns(UserWarning, match=r"long.avi: decoded 9 sampled frames, more than the 3 its metadata promises"):
        read_sampled(path, every=10, expected=3)


@pytest.mark.parametrize("streamed", [False, True])
def test_an_avi_with_null_frames_repeats_the_frame_before_each(tmp_path, streamed):
    """An AVI writer stores a frame it dropped as a null (empty) chunk: the frame before stays on screen, and the
    header counts it (ffmpeg's own AVI-to-AVI copy repeats it). Decoding skipped them, so a 50-frame video with 20
    null frames decoded 3 sampled frames where its header promises 5 and was refused as truncated (one with fewer
    was sampled at other moments than every 10th frame); a streamed one (header 0) was counted as 30 frames."""
    from tinyrrn.data import video
    source, path = index_video(str(tmp_path / "source.avi"), n=50), str(tmp_path / "dropped.avi")
    code, out, err = video._run_ffmpeg(["-i", source, "-vf", "select='not(between(n,10,29))'", "-fps_mode",
                                        "passthrough", "-c:v", "mjpeg", *(["-f", "avi", "pipe:1"] if streamed else [path])])
    assert code == 0, err
    if streamed:                                        # written to a pipe: no index, and headers of 0 frames
        with open(path, "wb") as f:
            f.write(out)
        with pytest.warns(UserWarning, match=r"header claims no frames; using the frames ffmpeg counts .*: 50"):
            assert frame_count(path) == 50
    else:
        assert frame_count(path) == 50
    frames = video.read_checked(path, every=10)
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), [0, 45, 45, 150, 200], atol=3)


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_a_video_with_a_longer_sound_track_is_counted_by_its_video_stream(tmp_path, container):
    """A container's duration is that of its longest stream: a 2 s video (50 frames at 25 fps) with 4 s of sound
    was counted as 100 frames, so read_checked, train, evaluate and data.check called it truncated and skipped it
    (and sound a little longer than the video planned chunks that repeat its last frame)."""
    from tinyrrn.data import video
    path = str(tmp_path / f"sound.{container}")
    code, _, err = video._run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=32x24:rate=25:duration=2", "-f", "lavfi",
                                      "-i", "sine=duration=4", "-c:v", "mpeg4", "-c:a", "aac", path])
    assert code == 0, err
    assert frame_count(path) == 50
    assert len(video.read_checked(path, every=10)) == 5


@pytest.mark.parametrize("container", ["avi", "mkv"])
@pytest.mark.parametrize("first, second", [(3, 1), (1, 3)])
def test_a_video_with_two_video_streams_is_counted_and_decoded_in_its_first(tmp_path, container, first, second):
    """Counting took the first video stream (an AVI: its main header, the longest stream's count) while decoding
    took the one ffmpeg prefers (in an AVI the larger): a whole AVI was refused as truncated, or decoded from the
    other stream, of other frames."""
    from tinyrrn.data import video
    path = str(tmp_path / f"two.{container}")
    code, _, err = video._run_ffmpeg(["-f", "lavfi", "-i", f"color=c=red:size=32x24:rate=25:duration={first}",
                                      "-f", "lavfi", "-i", f"color=c=blue:size=64x48:rate=25:duration={second}",
                                      "-map", "0:v", "-map", "1:v", "-c:v", "mpeg4", path])
    assert code == 0, err
    assert frame_count(path) == 25 * first
    frames = video.read_checked(path, every=10)
    assert frames.shape == (-(-25 * first // 10), 24, 32, 3) and frames[..., 0].min() > 200   # the red stream


def test_a_file_of_sound_alone_says_it_has_no_video_stream(tmp_path):
    from tinyrrn.data import video
    path = str(tmp_path / "sound.mkv")
    assert video._run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=1", path])[0] == 0
    for read in (frame_count, read_sampled):
        with pytest.raises(BadVideo, match=r"sound.mkv: .*\(no video stream\)"):
            read(path)


@pytest.mark.parametrize("container, flags", [("mp4", ["-movflags", "+faststart"]), ("mkv", [])])
def test_a_truncated_video_of_another_container_than_avi_is_a_bad_video(tmp_path, container, flags):
    """Counting copies the packets ffmpeg reads: of a cut MP4 (its index first) or MKV it counted the frames left,
    silently, though ffmpeg said the file ended early, so half a video was used as a whole one."""
    from tinyrrn.data import video
    whole = str(tmp_path / f"whole.{container}")
    assert video._run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=4", "-c:v", "mpeg4",
                              *flags, whole])[0] == 0
    assert frame_count(whole) == 100
    cut = tmp_path / f"cut.{container}"
    data = open(whole, "rb").read()
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(BadVideo, match=rf"cut.{container}: truncated or damaged: .*(partial file|ended prematurely)"):
        frame_count(cut)


@pytest.mark.parametrize("container, codec, flags", [("mp4", "mpeg4", ["-movflags", "+faststart"]),
                                                     ("avi", "mpeg4", []), ("mkv", "mpeg4", []),
                                                     ("ts", "mpeg4", []), ("webm", "libvpx", [])])
@pytest.mark.parametrize("sound", [False, True], ids=["video", "video and sound"])
@pytest.mark.parametrize("cut_off", ["half", "100 bytes"])
def test_a_cut_video_is_a_bad_video_in_every_container(tmp_path, container, codec, flags, sound, cut_off):
    """One rule for every container: a file cut short is refused, naming it. A cut MPEG-TS was counted and decoded
    as the shorter video it looks like (ffmpeg says nothing), an AVI cut by less than 10% of its frames (or in its
    sound, or its index) was decoded as far as it went, and an MP4 or MKV cut in its sound was counted whole: all
    silently. (An AVI's header still promises its frames: the cut is found decoding it, as BadVideo too.)"""
    from tinyrrn.data import video
    whole = str(tmp_path / f"whole.{container}")
    sine = ["-f", "lavfi", "-i", "sine=duration=2", "-c:a", "libvorbis" if container == "webm" else "mp2"]
    code, _, err = video._run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=2",
                                      *(sine if sound else []), "-c:v", codec, *flags, whole])
    if code and "Unknown encoder" in err:
        pytest.skip(f"this ffmpeg has no {codec} encoder")
    assert code == 0, err
    assert frame_count(whole) == 50 and len(video.read_checked(whole, every=10)) == 5
    cut = tmp_path / f"cut.{container}"
    data = open(whole, "rb").read()
    cut.write_bytes(data[:len(data) // 2 + 7] if cut_off == "half" else data[:-100])   # not at a TS packet's end
    with pytest.raises(BadVideo, match=rf"cut.{container}: truncated"):
        video.read_checked(cut, every=10)


@pytest.mark.parametrize("m2ts", [False, True], ids=["ts", "m2ts"])
@pytest.mark.parametrize("stream", ["video", "sound"])
def test_an_mpeg_ts_cut_at_a_packet_boundary_within_a_frame_or_sound_is_a_bad_video(tmp_path, m2ts, stream):
    """An MPEG-TS cut between two of its packets, inside a frame's or some sound's PES packet, was counted and decoded
    as the shorter video it looks like, in silence (ffmpeg says nothing); an M2TS cut anywhere, too. A stream's last
    PES packet is now held to its length (the sound's) or, where it has none (the video's), to the stuffing that ends
    a PES packet's last TS packet, or to a clean decoding of its frames."""
    from tinyrrn.data import video
    whole = str(tmp_path / f"whole.{'m2ts' if m2ts else 'ts'}")
    assert video._run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=2", "-f", "lavfi", "-i",
                              "sine=duration=2", "-c:v", "mpeg4", "-q:v", "2", "-c:a", "mp2", "-f", "mpegts",
                              "-mpegts_m2ts_mode", str(int(m2ts)), whole])[0] == 0
    assert frame_count(whole) == 50 and len(video.read_checked(whole, every=10)) == 5
    size, sync = (192, 4) if m2ts else (188, 0)
    data = open(whole, "rb").read()
    packets = np.frombuffer(data, np.uint8).reshape(-1, size)[:, sync:]
    pid, starts = (packets[:, 1].astype(int) & 0x1F) << 8 | packets[:, 2], packets[:, 1] & 0x40 != 0
    inside = (pid == (0x100 if stream == "video" else 0x101)) & ~starts      # packets that go on a PES packet
    k = len(packets) // 2 + int(np.argmax(inside[len(packets) // 2:]))
    cut = tmp_path / f"cut.{'m2ts' if m2ts else 'ts'}"
    cut.write_bytes(data[:k * size])
    for read in (frame_count, video.read_checked):
        with pytest.raises(BadVideo, match=rf"{cut.name}: truncated: the last PES packet of its stream "):
            read(cut)


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_a_video_of_variable_frame_rate_is_sampled_every_kth_decoded_frame(tmp_path, container):
    """'Every 10th frame' is every 10th frame decoded (the authors read frames one by one with OpenCV), not one per
    time step: frames 1 s apart, then 0.04 s apart, are counted and sampled as any others."""
    from tinyrrn.data import video
    source, path = str(index_video(tmp_path / "v.avi", n=35, codec="ffv1")), str(tmp_path / f"vfr.{container}")
    times = "if(lt(N,10),N,10+(N-10)*0.04)"  # seconds
    assert video._run_ffmpeg(["-i", source, "-vf", f"settb=1/1000,setpts='{times}/TB'", "-fps_mode", "passthrough",
                               "-c:v", "ffv1", path])[0] == 0
    assert frame_count(path) == 35
    np.testing.assert_allclose(video.read_checked(path, every=10).mean(axis=(1, 2, 3)), [0, 50, 100, 150], atol=2)


@pytest.mark.parametrize("container", ["mp4", "mov"])
def test_a_clip_trimmed_by_stream_copy_is_counted_by_the_frames_it_decodes(tmp_path, container):
    """`ffmpeg -ss 1.01 -i whole -c copy clip` keeps the packets from the key frame before the cut and marks those
    before it discarded (an edit list): decoding (ffmpeg's, OpenCV's) skips them. Counting counted them: 50 frames
    of a clip that decodes 24, refused as truncated (a less deep trim planned chunks of a repeated last frame)."""
    from tinyrrn.data import video
    whole, clip = str(tmp_path / f"whole.{container}"), str(tmp_path / f"clip.{container}")
    assert video._run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=32x24:rate=25:duration=2", "-c:v", "mpeg4",
                              "-g", "100", whole])[0] == 0
    assert video._run_ffmpeg(["-ss", "1.01", "-i", whole, "-c", "copy", clip])[0] == 0
    assert frame_count(clip) == len(read_sampled(clip, every=1)) == 24
    assert len(video.read_checked(clip, every=10)) == 3


@pytest.mark.parametrize("name", ["clip:1.mp4", "pipe:0.mp4", "data:x.avi", "-x.mp4"])
def test_a_relative_path_that_looks_like_an_ffmpeg_url_or_option_is_read_as_a_file(tmp_path, monkeypatch, name):
    """ffmpeg reads 'clip:1.mp4' as a URL of protocol 'clip' (refused: 'Protocol not found') and 'pipe:0.mp4' as
    its standard input: a video in the current folder named so was a BadVideo, its frames never read."""
    index_video(tmp_path / name, n=21, codec="mpeg4" if name.endswith("mp4") else "mjpeg")
    monkeypatch.chdir(tmp_path)
    assert frame_count(name) == 21
    frames = read_sampled(name, every=10)
    assert frames.shape == (3, 60, 80, 3)
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), [0, 50, 100], atol=3)


@pytest.mark.parametrize("name, sound", [("song.mp4", "aac"), ("song.avi", "libmp3lame")])
def test_a_file_of_sound_with_cover_art_says_it_has_no_video_stream(tmp_path, name, sound):
    """The picture attached to a song (cover art: an MP3 or M4A, named .avi or .mp4) is a video stream to ffmpeg's
    '0:v': such a file was read as a video of one frame, the cover, and trained on or evaluated in silence."""
    from tinyrrn.data import video
    path = str(tmp_path / name)
    code, _, err = video._run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=2", "-f", "lavfi", "-i",
                                      "color=c=red:size=32x24:duration=0.04", "-map", "0", "-map", "1",
                                      "-c:a", sound, "-c:v", "mjpeg", "-disposition:v", "attached_pic",
                                      *(["-f", "mp3"] if sound == "libmp3lame" else []), path])
    assert code == 0, err
    for read in (frame_count, read_sampled):
        with pytest.raises(BadVideo, match=rf"{name}: .*\(no video stream\)"):
            read(path)


def test_a_video_after_an_attached_picture_is_the_one_read(tmp_path):
    from tinyrrn.data import video
    path = str(tmp_path / "covered.mp4")
    code, _, err = video._run_ffmpeg(["-f", "lavfi", "-i", "color=c=red:size=32x24:duration=0.04", "-f", "lavfi",
                                      "-i", "color=c=blue:size=64x48:rate=25:duration=1", "-map", "0", "-map", "1", "-c:v:0", "mjpeg", "-c:v:1", "mpeg4", "-disposition:v:0",
                                      "attached_pic", path])
    assert code == 0, err
    assert frame_count(path) == 25
    frames = read_sampled(path, every=10)
    assert frames.shape == (3, 48, 64, 3) and frames[..., 2].min() > 200           # the blue video, not the cover


def test_a_video_too_wide_to_resize_says_why_it_cannot_be_decoded(tmp_path):
    """Resized to a short side of 256, a 4000x1 video would be 1024000x256, larger than ffmpeg makes a picture. It
    was refused as 'no frames (... Nothing was written into output file ...)', ffmpeg's last line, not its reason."""
    path = index_video(tmp_path / "wide.avi", n=3, size=(4000, 1))
    assert read_sampled(path, every=1).shape == (3, 1, 4000, 3)
    with pytest.raises(BadVideo, match=r"wide.avi: cannot decode: no frames \(Picture size 1024000x256 is invalid\)"):
        read_sampled(path, every=1, short_side=256)


@pytest.mark.parametrize("settings, says", [({"every": 0}, "every should be a positive integer, got 0"),
                                            ({"every": -1}, "every should be a positive integer, got -1"),
                                            ({"every": 2.5}, "every should be a positive integer, got 2.5"),
                                            ({"every": True}, "every should be a positive integer, got True"),
                                            ({"short_side": 0}, "short_side should be a positive integer, got 0"),
                                            ({"short_side": -5}, "short_side should be a positive integer, got -5"),
                                            ({"short_side": 7.5}, "short_side should be a positive integer, got 7.5")])
def test_sampling_settings_out_of_range_are_refused_naming_them(tmp_path, settings, says):
    """every=0 was a BadVideo blaming the video ('no frames'), every=-1 or True every frame, every=2.5 every 2nd;
    short_side 0 or -5 left the frames unresized and 7.5 resized them to 7: silently other frames."""
    from tinyrrn.data.video import read_checked
    path = index_video(tmp_path / "v.avi", n=21)
    for read in (read_sampled, read_checked):
        with pytest.raises(ValueError, match=says):
            read(path, **settings)
