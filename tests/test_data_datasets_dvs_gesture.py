import struct
from pathlib import Path

import pytest

from spikeforge.data import DatasetNotFoundError, load_dataset, make_loader
from spikeforge.data.datasets.dvs_gesture import read_gesture_labels
from spikeforge.data.errors import DataFileError

HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#!END-HEADER\r\n"


def recording(events: list[tuple[int, int, int, int]]) -> bytes:
    """(x, y, p, t) polarity events -> an AEDAT 3.1 file with one packet."""
    n = len(events)
    head = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, n, n, n)
    body = b"".join(struct.pack("<Ii", x << 17 | y << 2 | p << 1 | 1, t) for x, y, p, t in events)
    return HEADER + head + body


def make_tree(root: Path) -> None:
    folder = root / "DvsGesture"
    folder.mkdir()
    (folder / "trials_to_train.txt").write_text("user01_fluorescent.aedat\n\n")
    (folder / "trials_to_test.txt").write_text("user02_led.aedat\n")
    events = [(i % 128, (3 * i) % 128, i % 2, 1000 + 100 * i) for i in range(100)]
    for name in ("user01_fluorescent", "user02_led"):
        (folder / f"{name}.aedat").write_bytes(recording(events))
    (folder / "user01_fluorescent_labels.csv").write_text(
        "class,startTime_usec,endTime_usec\n1,1000,4000\n11,5000,10000\n"
    )
    (folder / "user02_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n3,0,99999\n")


def test_gesture_segments(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="DvsGesture/trials_to_train.txt"):
        load_dataset("dvs-gesture", data_dir=str(tmp_path))
    make_tree(tmp_path)
    train = load_dataset("dvs-gesture", "train", data_dir=str(tmp_path), frames=5)
    assert len(train) == 2 and train.labels.tolist() == [0, 10] and train.temporal
    assert train.classes[10] == "other_gestures"
    first, second = train[0][0], train[1][0]
    assert first.shape == (5, 2, 128, 128)
    assert first.sum() == 30 and second.sum() == 50  # events with t in [start, end)
    test = load_dataset("dvs-gesture", "test", data_dir=str(tmp_path), frames=4, downsample=4)
    x, y = test[0]
    assert y == 2 and x.shape == (4, 2, 32, 32) and x.sum() == 100
    xb, _ = next(iter(make_loader(train, batch_size=2)))
    assert xb.shape == (5, 2, 2, 128, 128)


def test_label_file_range(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text("class,startTime_usec,endTime_usec\n12,0,1\n")
    with pytest.raises(ValueError, match="outside 1..11"):
        read_gesture_labels(tmp_path / "l.csv")


def test_bad_label_row_and_truncated_recording_are_named(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text("class,startTime_usec,endTime_usec\n1,0,x\n")
    with pytest.raises(DataFileError, match=r"l\.csv: row 2: expected"):
        read_gesture_labels(tmp_path / "l.csv")
    make_tree(tmp_path)
    recording = tmp_path / "DvsGesture/user01_fluorescent.aedat"
    recording.write_bytes(recording.read_bytes()[:-5])
    train = load_dataset("dvs-gesture", "train", data_dir=str(tmp_path), frames=2)
    assert train.files == [recording, recording]
    with pytest.raises(DataFileError, match=r"user01_fluorescent\.aedat: bad AEDAT 3\.1 packet"):
        train[0]
