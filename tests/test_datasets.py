import numpy as np
import pytest
from PIL import Image

from vgrerank.datasets import ImageInfo, format_name, load_dataset, parse_name
from vgrerank.errors import ConfigError, DataError
from vgrerank.imageio import load_image

SFXL = (
    "@0544388.51@4172758.25@10@S@037.70098@-122.49646@kPnABhWJ1kA61eMNPLs1vQ@@210@@@@201606@@.jpg"
)


def test_parse_and_format_roundtrip():
    info = parse_name("some/folder/" + SFXL)
    assert (info.utm_east, info.utm_north, info.utm_zone_number, info.utm_zone_letter) == (
        544388.51,
        4172758.25,
        10,
        "S",
    )
    assert info.heading == 210 and info.pitch is None and info.timestamp == "201606"
    assert format_name(info) == SFXL


@pytest.mark.parametrize(
    "bad",
    [
        "photo.jpg",
        "@12@34@.jpg",
        "@abc@4172758.25@10@S@@@@@@@@@@@@.jpg",
        "@@4172758.25@10@S@@@@@@@@@@@@.jpg",
    ],
)
def test_bad_names_are_named(bad):
    with pytest.raises(DataError, match=bad.replace(".", r"\.")[:5]):
        parse_name(bad)


def _img(path, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)


def _vg_tree(root):
    for i, (e, n) in enumerate([(100, 0), (110, 0), (300, 0)]):
        _img(
            root
            / "images/test/database"
            / format_name(ImageInfo(380000 + e, 3950000 + n, 54, "S", heading=90 * i))
        )
    _img(
        root
        / "images/test/queries_night"
        / format_name(ImageInfo(380105, 3950001, 54, "S", heading=0))
    )


def test_vg_dataset_and_positives(tmp_path):
    _vg_tree(tmp_path)
    ds = load_dataset("t", {"format": "vg", "root": str(tmp_path), "splits": ["night"]})
    assert len(ds.database) == 3 and list(ds.queries) == ["night"]
    assert ds.positives("night")[0].tolist() == [0, 1]
    assert ds.positives("night", threshold_m=2)[0].tolist() == []
    assert ds.positives("night", heading_deg=45)[0].tolist() == [0]
    with pytest.raises(DataError, match="no query split 'day'"):
        ds.positives("day")


def test_vg_errors_name_the_file(tmp_path):
    _vg_tree(tmp_path)
    _img(tmp_path / "images/test/queries_night/holiday.jpg")
    with pytest.raises(DataError, match="holiday.jpg"):
        load_dataset("t", {"format": "vg", "root": str(tmp_path), "splits": ["night"]})
    (tmp_path / "images/test/queries_day").mkdir()
    with pytest.raises(DataError, match="queries_day: no images"):
        load_dataset("t", {"format": "vg", "root": str(tmp_path), "splits": ["day"]})
    with pytest.raises(ConfigError, match="format"):
        load_dataset("t", {"format": "zip", "root": str(tmp_path)})


def test_manifest(tmp_path):
    for n in ("d0.jpg", "d1.jpg", "q0.jpg"):
        _img(tmp_path / n)
    (tmp_path / "m.csv").write_text(
        "name,east,north,heading,condition,set\n"
        "d1.jpg,10,0,,,database\nd0.jpg,0,0,,,database\nq0.jpg,1,1,,night,query\n"
    )
    ds = load_dataset("m", {"format": "manifest", "manifest": str(tmp_path / "m.csv")})
    assert ds.database.names == ["d0.jpg", "d1.jpg"] and list(ds.queries) == ["night"]
    assert ds.positives("night", threshold_m=5)[0].tolist() == [0]
    (tmp_path / "bad.csv").write_text("name,east,north,set\nd0.jpg,zero,0,database\n")
    with pytest.raises(DataError, match=r"bad.csv:2: column 'east'"):
        load_dataset("m", {"format": "manifest", "manifest": str(tmp_path / "bad.csv")})


def test_corrupt_image(tmp_path):
    p = tmp_path / "broken.jpg"
    p.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match="broken.jpg: not a decodable image"):
        load_image(p)


# ---------------------------------------------------------------- frames reader (VPR-Bench layout)


def _frames_tree(root, db_names, q_names, gt_rows):
    for n in db_names:
        _img(root / "ref" / n)
    for n in q_names:
        _img(root / "query" / n)
    gt = np.empty(len(gt_rows), dtype=object)
    for i, (qi, refs) in enumerate(gt_rows):
        gt[i] = np.array([qi, np.array(refs, dtype=np.int64)], dtype=object)
    np.save(root / "ground_truth_new.npy", gt, allow_pickle=True)


def _frames(root, **conf):
    return load_dataset("f", {"format": "frames", "root": str(root), **conf})


def test_frames_order_by_frame_number_and_ground_truth(tmp_path):
    # file-name order (frame10 < frame100 < frame2 < frame9) differs from frame order
    _frames_tree(
        tmp_path,
        ["frame10.png", "frame100.png", "frame2.png", "frame9.png"],
        ["q20.png", "q3.png", "q1.png"],
        [(0, [1]), (2, [3, 0])],
    )
    ds = _frames(tmp_path)
    assert ds.database.names == [
        "ref/frame2.png",
        "ref/frame9.png",
        "ref/frame10.png",
        "ref/frame100.png",
    ]
    assert ds.split("queries").names == ["query/q1.png", "query/q3.png", "query/q20.png"]
    # ground-truth indices are positions in frame order: query 0 = q1 -> frame9
    pos = ds.positives("queries")
    assert [p.tolist() for p in pos] == [[1], [], [0, 3]]
    assert np.isnan(ds.database.utm).all() and np.isnan(ds.split("queries").utm).all()
    assert list(_frames(tmp_path, split="night").queries) == ["night"]


def test_frames_order_uses_every_number_in_the_name(tmp_path):
    names = ["seq2_0001.png", "seq1_0010.png", "seq1_0005.png", "seq10_0000.png"]
    _frames_tree(tmp_path, names, ["0.png"], [(0, [0])])
    assert _frames(tmp_path).database.names == [
        "ref/seq1_0005.png",
        "ref/seq1_0010.png",
        "ref/seq2_0001.png",
        "ref/seq10_0000.png",
    ]


def test_frames_name_without_number_is_an_error_naming_the_file(tmp_path):
    _frames_tree(tmp_path, ["0000000.jpg", "0000001.jpg", "cover.jpg"], ["0.jpg"], [(0, [0])])
    with pytest.raises(DataError, match=r"cover\.jpg.*no frame number"):
        _frames(tmp_path)


def test_frames_same_number_twice_is_an_error_naming_both(tmp_path):
    _frames_tree(tmp_path, ["1.png", "2.png"], ["1.png", "01.jpg"], [(0, [0])])
    with pytest.raises(DataError, match=r"01\.jpg and .*1\.png: same frame number 1"):
        _frames(tmp_path)


def test_frames_empty_folder_and_bad_ground_truth(tmp_path):
    _frames_tree(tmp_path, ["0.png", "1.png"], [], [])
    (tmp_path / "query").mkdir()
    with pytest.raises(DataError, match="query: no images"):
        _frames(tmp_path)
    _img(tmp_path / "query" / "0.png")
    _frames_tree(tmp_path, [], [], [(1, [0])])
    with pytest.raises(DataError, match=r"ground_truth_new\.npy: query index 1 out of range"):
        _frames(tmp_path)
    _frames_tree(tmp_path, [], [], [(0, [2])])
    with pytest.raises(DataError, match=r"ground_truth_new\.npy: query 0 has reference indices"):
        _frames(tmp_path)
    (tmp_path / "ground_truth_new.npy").unlink()
    with pytest.raises(DataError, match=r"ground_truth_new\.npy: ground-truth file not found"):
        _frames(tmp_path)
