import imageio.v3 as iio
import numpy as np
import pytest
import sciml
import tifffile
from sciml_spheroid.io import load_image, load_plate_map

DAYS = [7, 8, 9, 10]


def _write_experiment(tmp_path, wells=(("P1", "B2", "untreated", "", 0.0), ("P1", "C3", "screening", "D1", 1.0),
                                       ("P2", "G11", "single", "D1", 1.0))):
    rng = np.random.default_rng(0)
    rows = ["plate,well,day,group,drug,concentration,image,efficacy"]
    truth = {}
    for k, (plate, well, group, drug, conc) in enumerate(wells):
        for d in DAYS:
            img = rng.random((20, 20))
            if k % 3 == 0:  # 8-bit grey PNG
                arr = (img * 255).round().astype(np.uint8)
                name = f"{plate}_{well}_d{d}.png"
                iio.imwrite(tmp_path / name, arr)
                expect = arr / 255.0
            elif k % 3 == 1:  # 16-bit grey TIFF
                arr = (img * 65535).round().astype(np.uint16)
                name = f"{plate}_{well}_d{d}.tif"
                tifffile.imwrite(tmp_path / name, arr)
                expect = arr / 65535.0
            else:  # 8-bit RGB PNG (equal channels)
                g = (img * 255).round().astype(np.uint8)
                name = f"{plate}_{well}_d{d}.png"
                iio.imwrite(tmp_path / name, np.stack([g, g, g], -1))
                expect = g / 255.0
            truth[(plate, well, d)] = expect
            rows.append(f"{plate},{well},{d},{group},{drug},{conc},{name},{0.1 * k}")
    (tmp_path / "map.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "map.csv", truth


def test_plate_map_round_trip(tmp_path):
    csv, truth = _write_experiment(tmp_path)
    a = load_plate_map(csv, size=20, channels="mean")  # grey and RGB files mixed: averaged to one channel
    assert a["images"].shape == (3, 4, 1, 20, 20) and a["images"].dtype == np.float32
    assert a["days"].tolist() == DAYS and a["qc"].shape == (3,)
    assert a["plate_name"].tolist() == ["P1", "P1", "P2"] and a["plate"].tolist() == [0, 0, 1]
    assert a["well"].tolist() == ["B2", "C3", "G11"] and a["group"].tolist() == [0, 2, 1]
    assert a["drug"].tolist() == ["none", "D1", "D1"]
    assert a["efficacy"].tolist() == pytest.approx([0.0, 0.1, 0.2])
    for i, (plate, well) in enumerate(zip(a["plate_name"], a["well"], strict=False)):
        for j, d in enumerate(DAYS):
            np.testing.assert_allclose(a["images"][i, j, 0], truth[(plate, well, d)], atol=2e-3)
    with pytest.raises(sciml.UserError, match=r"\[1, 3\] channels"):
        load_plate_map(csv, size=20, channels="all")


def test_load_image_resizes_and_scales(tmp_path):
    tifffile.imwrite(tmp_path / "x.tif", np.full((40, 30), 65535, np.uint16))
    im = load_image(tmp_path / "x.tif", 16)
    assert im.shape == (16, 16) and im.max() == pytest.approx(1.0)


def _edit(csv, old, new):
    csv.write_text(csv.read_text().replace(old, new, 1))


@pytest.mark.parametrize("old,new,message", [
    (",B2,7,", ",Q99,7,", "unknown well 'Q99'"),
    (",B2,7,", ",A1,7,", "edge well"),
    (",B2,7,", ",B2,7.5,", "bad day '7.5'"),
    (",B2,7,", ",B2,seven,", "bad day 'seven'"),
    (",B2,7,untreated", ",B2,7,placebo", "unknown group 'placebo'"),
    ("P1_B2_d7.png", "missing.png", "does not exist"),
    (",B2,8,", ",B2,7,", "listed twice"),
])
def test_plate_map_errors(tmp_path, old, new, message):
    csv, _ = _write_experiment(tmp_path)
    _edit(csv, old, new)
    with pytest.raises(sciml.UserError, match=message):
        load_plate_map(csv, size=20)


def test_plate_map_missing_day_column_and_file(tmp_path):
    csv, truth = _write_experiment(tmp_path)
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(line for line in lines if ",B2,9," not in line) + "\n")
    a = load_plate_map(csv, size=20, channels="mean")  # the missing day takes the day before and is flagged
    assert a["qc"][0] == "missing_day_9" and a["missing_days"].tolist() == [1, 0, 0]
    np.testing.assert_allclose(a["images"][0, 2, 0], truth[("P1", "B2", 8)], atol=2e-3)
    b = load_plate_map(csv, size=20, channels="mean", days=[7, 10])  # days are configurable
    assert b["images"].shape[1] == 2 and b["days"].tolist() == [7, 10]
    (tmp_path / "nocol.csv").write_text("plate,well,day\nP1,B2,7\n")
    with pytest.raises(sciml.UserError, match="lacks column"):
        load_plate_map(tmp_path / "nocol.csv")
    with pytest.raises(sciml.UserError, match="does not exist"):
        load_plate_map(tmp_path / "nope.csv")


def test_file_that_is_not_an_image(tmp_path):
    csv, _ = _write_experiment(tmp_path)
    (tmp_path / "P1_B2_d7.png").write_text("this is not a PNG")
    with pytest.raises(sciml.UserError, match="not a readable image"):
        load_plate_map(csv, size=20)
    (tmp_path / "fake.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(sciml.UserError, match="not a readable image"):
        load_image(tmp_path / "fake.tif", 8)


def test_focal_layers_kept_as_channels_or_best_focus(tmp_path):
    from scipy import ndimage

    rng = np.random.default_rng(1)
    sharp = rng.random((32, 32))
    stack = np.stack([ndimage.gaussian_filter(sharp, 2), sharp, ndimage.gaussian_filter(sharp, 1)])
    tifffile.imwrite(tmp_path / "s.tif", (stack * 65535).astype(np.uint16))  # a 3-page TIFF
    assert load_image(tmp_path / "s.tif", 32, channels="all").shape == (3, 32, 32)
    best = load_image(tmp_path / "s.tif", 32, channels="best_focus")
    np.testing.assert_allclose(best[0], sharp, atol=2e-4)  # the sharpest layer, not an average
