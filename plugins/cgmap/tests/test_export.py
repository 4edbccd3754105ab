"""`sciml cgmap export`: every file is read back (ASE for the trajectories, ElementTree for the
VOTCA XML against the element names VOTCA documents, a GROMACS-format reader for the .ndx)."""

from xml.etree import ElementTree as ET

import numpy as np
import pytest

ETHANE = {"symbols": ["C", "C", "H", "H", "H", "H", "H", "H"],
          "masses": [12.011, 12.011] + [1.008] * 6,
          "bonds": [[0, 1], [0, 2], [0, 3], [0, 4], [1, 5], [1, 6], [1, 7]], "smiles": "CC"}
MAPPING = [2, 0, 2, 2, 2, 0, 0, 0]  # {C0 + its H} {C1 + its H}, bead labels not in order


def read_ndx(path):
    groups, name = {}, None
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            name = line.strip("[] ")
            groups[name] = []
        elif line:
            groups[name] += [int(i) for i in line.split()]
    return groups


def test_export_files_read_back(tmp_path):
    import ase.io
    from sciml_cgmap.export import VOTCA_ELEMENTS, bead_centres, bead_table, export_mapping

    rng = np.random.default_rng(0)
    frames = rng.normal(size=(5, 8, 3))
    out = export_mapping(MAPPING, ETHANE, tmp_path / "x", frames, molecule="ETH")
    # GROMACS index: one group per bead, 1-based atom indices, relabelled in order of first atom
    assert read_ndx(out["ndx"]) == {"B1": [1, 3, 4, 5], "B2": [2, 6, 7, 8]}
    # VOTCA XML: only documented element names, mass weights per bead, the one CG bond
    root = ET.parse(out["votca"]).getroot()
    assert root.tag == "cg_molecule" and {e.tag for e in root.iter()} <= VOTCA_ELEMENTS
    beads = root.findall("topology/cg_beads/cg_bead")
    assert [b.findtext("name") for b in beads] == ["B1", "B2"]
    assert beads[0].findtext("beads").split() == ["1:ETH:C1", "1:ETH:H1", "1:ETH:H2", "1:ETH:H3"]
    maps = {m.findtext("name"): [float(w) for w in m.findtext("weights").split()] for m in root.iter("map")}
    assert maps[beads[1].findtext("mapping")] == pytest.approx([12.011, 1.008, 1.008, 1.008])
    assert root.findtext("topology/cg_bonded/bond/beads").split() == ["B1", "B2"]
    assert out["cg_bonds"].read_text() == "B1 B2\n"
    # CG trajectory at the beads' centres of mass, with bead masses = sums of the atoms' masses
    table = bead_table(MAPPING, ETHANE["symbols"], ETHANE["masses"], ETHANE["bonds"])
    want = bead_centres(frames, table, ETHANE["masses"])
    m = np.array(ETHANE["masses"])
    np.testing.assert_allclose(want[:, 0], (frames[:, [0, 2, 3, 4]] * m[[0, 2, 3, 4], None]).sum(1) / m[[0, 2, 3, 4]].sum())
    xyz = ase.io.read(out["extxyz"], index=":")
    assert len(xyz) == 5 and len(xyz[0]) == 2
    np.testing.assert_allclose(np.array([a.get_positions() for a in xyz]), want, atol=1e-6)
    np.testing.assert_allclose(xyz[0].get_masses(), [12.011 + 3 * 1.008] * 2)
    pdb = ase.io.read(out["pdb"], index=":", format="proteindatabank")
    assert len(pdb) == 5
    np.testing.assert_allclose(np.array([a.get_positions() for a in pdb]), want, atol=1e-3)
    assert "CONECT    1    2" in out["pdb"].read_text()


def test_export_rejects_frames_of_the_wrong_shape(tmp_path):
    import sciml
    from sciml_cgmap.export import export_mapping

    with pytest.raises(sciml.UserError, match=r"\(n_frames, 8, 3\) Å are needed"):
        export_mapping(MAPPING, ETHANE, tmp_path, np.zeros((2, 7, 3)))


def test_export_command_from_a_model_directory(ethane_data, tmp_path):
    import sciml
    from sciml_cgmap.export import export_command
    from sciml_cgmap.model import CGVAE

    model = CGVAE(CGVAE.Config(n_beads=2), ethane_data.metadata)
    with pytest.importorskip("torch").no_grad():
        model.logits.copy_(torch_onehot([1, 0, 1, 1, 1, 0, 0, 0]))
    config = {"pipeline": "cgmap:default", "model": {"name": "cgmap:vae", "n_beads": 2},
              "dataset": {"name": "cgmap:md", **ethane_data.config.model_dump()}}
    sciml.save_model_dir(tmp_path / "model", model, config, ethane_data.metadata)
    lines = []
    assert export_command(str(tmp_path / "model"), str(tmp_path / "out"), cache=str(ethane_data.context.cache_dir),
                          echo=lines.append) == 0
    assert "20 CG frames from the model's test block" in lines[0]
    ndx = read_ndx(tmp_path / "out" / "index.ndx")
    assert ndx == {"B1": [1, 3, 4, 5], "B2": [2, 6, 7, 8]}


def torch_onehot(mapping):
    import torch

    return torch.nn.functional.one_hot(torch.tensor(mapping), 2).float() * 5.0
