import pytest
from sciml.testing import sciml_store  # noqa: F401  (fixture: temporary SCIML_HOME)


@pytest.fixture(autouse=True)
def _fresh_plugin_state():
    """Each test sees the installed plugins as a new process would."""
    from sciml import plugins

    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture
def reporter(tmp_path):
    """An in-memory reporter with ``draw_figure`` (figures that fail to draw fail the test)."""
    from sciml.testing import RecordingReporter

    class _Reporter(RecordingReporter):
        def draw_figure(self, filename, draw, *args, **kwargs):
            figure = draw(*args, **kwargs)
            if figure is not None:
                self.log_figure(figure, filename)
                import matplotlib.pyplot as plt

                plt.close(figure)
            return figure is not None

    return _Reporter(tmp_path / "reporter")


@pytest.fixture
def write_plate_map():
    """``write_plate_map(root, plates=..., wells=...)`` -> path of a plate map of simulated plates."""
    return _write_plate_map


def _write_plate_map(root, plates=("P1",), wells=(0, 1, 2, 3, 20, 21, 30, 34, 40, 46, 52, 59), size=16, efficacy=True):
    """A plate map of simulated plates (one ``render_plate(5, p)`` per plate label) as 16-bit TIFFs.

    The default wells: 4 untreated (0-3), 2 single-dose (20, 21), 6 screening (6 conditions)."""
    import numpy as np
    import tifffile
    from sciml_spheroid.simulate import render_plate

    rows = ["plate,well,day,group,drug,concentration,image" + (",efficacy" if efficacy else "")]
    for p, label in enumerate(plates):
        pl = render_plate(5, p, size=size)  # the legacy preset (its design: wells 20, 21 single-dose)
        for w in wells:
            wd = pl.design[w]
            for d, day in enumerate((7, 8, 9, 10)):
                name = f"{label}_{wd.well}_{day}.tif"
                tifffile.imwrite(root / name, (pl.images[w, d] * 65535).astype(np.uint16))
                rows.append(f"{label},{wd.well},{day},{wd.group},{wd.drug},{wd.concentration},{name}"
                            + (f",{pl.efficacy[w]}" if efficacy else ""))
    (root / "map.csv").write_text("\n".join(rows) + "\n")
    return root / "map.csv"
