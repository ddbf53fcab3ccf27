import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vgrerank.errors import DataError
from vgrerank.io import atomic_path
from vgrerank.io.local_h5 import FeatureStore, write_features
from vgrerank.local.base import Features


def test_atomic_exception_keeps_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_killed_writer_leaves_no_complete_file(tmp_path):
    target = tmp_path / "feats.h5"
    code = textwrap.dedent(
        f"""
        import sys, time
        import numpy as np
        from vgrerank.io.local_h5 import write_features
        from vgrerank.local.base import Features
        def gen():
            for i in range(100000):
                if i == 5:
                    print("started", flush=True)
                f = Features(np.zeros((10, 2)), np.zeros((10, 8)), np.ones(10), (64, 48))
                yield f"img{{i}}.jpg", f, 0.0
                time.sleep(0.01)
        write_features({str(target)!r}, gen(), {{"tag": "x"}})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not target.exists()
    with pytest.raises(DataError, match="not found"):
        FeatureStore(target)


def test_feature_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    feats = {
        "images/test/database/a.jpg": Features(
            rng.random((7, 2)) * 100, rng.random((7, 128)), rng.random(7), (640, 480)
        ),
        "b.jpg": Features(np.zeros((0, 2)), np.zeros((0, 128)), np.zeros(0), (10, 20)),
    }
    path = tmp_path / "f.h5"
    write_features(path, ((n, f, 0.5) for n, f in feats.items()), {"tag": "sift-n7"})
    with FeatureStore(path) as store:
        assert sorted(store.names()) == sorted(feats)
        a = store["images/test/database/a.jpg"]
        np.testing.assert_allclose(
            a.keypoints, feats["images/test/database/a.jpg"].keypoints, rtol=1e-6
        )
        np.testing.assert_allclose(
            a.descriptors, feats["images/test/database/a.jpg"].descriptors, atol=1e-3
        )
        assert a.size == (640, 480) and store.time("b.jpg") == 0.5 and len(store["b.jpg"]) == 0
        with pytest.raises(DataError, match="missing.jpg"):
            store["missing.jpg"]


def test_feature_extras_keep_their_dtype_and_shape(tmp_path):
    import h5py

    from vgrerank.features import FORMAT_VERSION

    rng = np.random.default_rng(1)
    extras = {
        "global": rng.normal(size=2048).astype(np.float32),
        "map_0.5": rng.normal(size=(4, 3, 5)).astype(np.float16),
        "scale": rng.random(7).astype(np.float64),
        "depth": np.int64(101),
    }
    f = Features(rng.random((7, 2)), rng.random((7, 16)), rng.random(7), (64, 48), extras)
    path = tmp_path / "f.h5"
    write_features(path, [("a.jpg", f, 0.1)], {"tag": "x"})
    with h5py.File(path, "r") as h5:  # hloc-style: one group per image, one dataset per array
        g = h5["a.jpg"]
        assert sorted(g) == sorted(["keypoints", "descriptors", "scores", *extras])
        assert g["descriptors"].dtype == np.float16 and g["global"].dtype == np.float32
        assert h5.attrs["format_version"] == FORMAT_VERSION
    with FeatureStore(path) as store:
        back = store["a.jpg"]
    assert sorted(back.extras) == sorted(extras)
    for name, value in extras.items():  # each in its own dtype, bit for bit
        got = back.extras[name]
        assert got.dtype == value.dtype and got.shape == np.shape(value)
        assert np.array_equal(got, value)
    assert np.array_equal(back.keypoints, f.keypoints) and back.descriptors.dtype == np.float32
    with pytest.raises(DataError, match="no extra 'nope': made by X"):
        back.extra("nope", "made by X")
    for bad in ("", "a/b", "scores"):
        with pytest.raises(DataError, match="extra name"):
            Features(np.zeros((1, 2)), np.zeros((1, 2)), np.ones(1), (4, 4), {bad: np.zeros(1)})


def test_old_format_feature_cache_is_refused_and_old_shards_are_extracted_again(tmp_path, capsys):
    import h5py

    from vgrerank.io.local_h5 import list_shards

    f = Features(np.zeros((3, 2)), np.zeros((3, 8)), np.ones(3), (64, 48))
    path = tmp_path / "db" / "0123.h5"
    path.parent.mkdir()
    conf = {"tag": "x"}
    write_features(path, [("a.jpg", f, 0.1)], conf)
    assert set(list_shards(path.parent, conf)) == {"a.jpg"}
    with h5py.File(path, "a") as h5:  # a cache of the layout before named extras
        del h5.attrs["format_version"]
    with pytest.raises(DataError, match=r"0123\.h5: feature cache format 1.*re-run"):
        FeatureStore(path)
    capsys.readouterr()
    assert list_shards(path.parent, conf) == {}  # reported, and its images extracted again
    out = capsys.readouterr().out
    assert "ignoring shard" in out and "0123.h5: feature cache format 1" in out


def test_io_and_features_build_on_the_ground_floor_only():
    import json

    code = (
        "import json, sys, vgrerank.features, vgrerank.io.local_h5; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('vgrerank.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert "vgrerank.io.local_h5" in loaded
    assert not [m for m in loaded if m.startswith(("vgrerank.local", "vgrerank.rerank"))], loaded


def test_provenance_records_cpu_and_simd_level():
    import json

    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    from vgrerank.io.provenance import provenance

    p = provenance({"a": 1})
    assert isinstance(p["cpu"], str) and p["cpu"]
    simd = p["simd"]
    active = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    assert simd["numpy_dispatch"].split() == active
    assert simd["numpy_level"] == (active[-1] if active else simd["numpy_baseline"].split()[-1])
    assert "SSE" in simd["opencv_features"] and simd["opencv_level"]
    json.dumps(p)  # serialisable as written into every output
    if not active:
        return
    # a process with numpy's dispatch disabled records the baseline level
    code = (
        "import json; from vgrerank.io.provenance import simd_info; print(json.dumps(simd_info()))"
    )
    # (what this process already had disabled stays disabled: it may run restricted itself)
    off = active + os.environ.get("NPY_DISABLE_CPU_FEATURES", "").split()
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(off)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    low = json.loads(out.stdout)
    assert low["numpy_dispatch"] == ""
    assert low["numpy_level"] == simd["numpy_baseline"].split()[-1] != simd["numpy_level"]
