"""Template filters (rdchiral round trip, RXNMapper confidence), precedents, readable routes and batch planning."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import sciml
from sciml_retro import data as D
from sciml_retro.chem import canonical_smiles
from sciml_retro.route import Route, draw_routes, load_routes, precedent_info
from sciml_retro.search import MCTS, Expander, SearchConfig
from sciml_retro.stock import Stock
from sciml_retro.templates import extract_template

# hand-mapped reactions (as in test_retro.py: --import-mode=importlib keeps test modules apart)
AMIDE = ("[CH3:1][C:2](=[O:3])Cl.[NH2:5][c:6]1[cH:7][cH:8][c:9]([c:12]2[cH:13][cH:14][cH:15][cH:16][cH:17]2)"
         "[cH:10][cH:11]1>>[CH3:1][C:2](=[O:3])[NH:5][c:6]1[cH:7][cH:8][c:9]([c:12]2[cH:13][cH:14][cH:15][cH:16]"
         "[cH:17]2)[cH:10][cH:11]1")
SUZUKI = ("Br[c:1]1[cH:2][cH:3][c:4]([NH2:7])[cH:5][cH:6]1.OB(O)[c:8]1[cH:9][cH:10][cH:11][cH:12][cH:13]1>>"
          "[c:1]1([c:8]2[cH:9][cH:10][cH:11][cH:12][cH:13]2)[cH:2][cH:3][c:4]([NH2:7])[cH:5][cH:6]1")
BOC = ("CC(C)(C)[O:9][C:8](=[O:10])[NH:1][CH2:2][c:3]1[cH:4][cH:5][cH:6][cH:7][cH:11]1>>"
       "[NH2:1][CH2:2][c:3]1[cH:4][cH:5][cH:6][cH:7][cH:11]1")
SULFONATE = ("Cl[S:3]([CH2:2][CH3:1])(=[O:4])=[O:5].[OH:6][CH2:7][CH2:8][Br:9]>>"
             "[CH3:1][CH2:2][S:3](=[O:4])(=[O:5])[O:6][CH2:7][CH2:8][Br:9]")


def _save_policy(model, directory):
    config = {"pipeline": "retro:default", "model": {"name": "retro:policy", **model.config.model_dump()}}
    meta = {"n_bits": model.n_bits, "radius": model.radius, "n_templates": len(model.templates),
            "templates": model.templates}
    return sciml.save_model_dir(directory, model, config, meta)


def _tiny_dataset(tmp_path, rows, **cfg):
    from sciml.testing import make_context
    from sciml_retro.dataset import RetroDataset

    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "mapped.jsonl"
    path.write_text("".join(json.dumps({"id": i, "mapped": m}) + "\n" for i, m in rows))
    cfg = {"mapped_reactions": str(path), "template_min_count": 1, "n_bits": 64, "filter_negatives": 0,
           "min_steps": 2, "max_steps": 2, **cfg}
    ds = RetroDataset(RetroDataset.Config(**cfg), make_context(tmp_path / "ctx"))
    ds.prepare()
    return ds

# a record whose reactants cannot make its product (USPTO holds such: a reactant is missing). RXNMapper maps it
# anyway; the template extracted from it does not give back the recorded reactants.
BROKEN = ("[CH3:1][O:2][S:3](=[O:4])(=[O:5])[O:6][CH3:7]>>[CH3:7][S:8][CH2:9][c:10]1[cH:11][cH:12][c:13]([CH3:14])"
          "[o:15]1")
TARGET = "CC(=O)Nc1ccc(-c2ccccc2)cc1"


def test_roundtrip_check_passes_real_templates_and_rejects_a_broken_record():
    for mapped in (AMIDE, SUZUKI, BOC, SULFONATE):
        assert D.roundtrip_check(extract_template(mapped), mapped) == 2
    assert D.roundtrip_check("", AMIDE) == -1
    tpl = extract_template(BROKEN)
    assert D.roundtrip_check(tpl, BROKEN) == 0 if tpl else True
    # the template of one reaction does not regenerate another reaction's reactants
    assert D.roundtrip_check(extract_template(AMIDE), SUZUKI) == 0
    assert D.mapped_reactants(AMIDE) == tuple(sorted([canonical_smiles("CC(=O)Cl"),
                                                      canonical_smiles("Nc1ccc(-c2ccccc2)cc1")]))


def _table():
    # 5 training reactions: t1 twice (confidence 0.9 and 0.2), t2 once failing the round trip, t3 at 0.4,
    # t4 with an unknown confidence; a held-out reaction with t5
    return {"templates": np.array(["t1", "t1", "t2", "t3", "t4", "t5"]),
            "confidence": np.array([0.9, 0.2, 0.95, 0.4, np.nan, 0.9]),
            "roundtrip": np.array([2, 2, 0, 1, 2, 2], dtype=np.int8),
            "ids": np.array(list("abcdef")), "reactants": np.array(["R"] * 6), "products": np.array(list("PQRSTU"))}


def test_template_trust_library_and_filter_counts_on_a_hand_made_table():
    t, split = _table(), np.array([0, 0, 0, 0, 0, 1])
    keep = D.template_trust(t, min_confidence=0.5, roundtrip=True)
    assert list(keep) == [True, False, False, False, True, True]  # NaN confidence passes
    lib, labels, counts = D.template_library(t["templates"], split, 1, keep=keep)
    assert lib == ["t1", "t4"] and counts["t1"] == 1  # only trusted training reactions count
    assert list(labels) == [0, 0, -1, -1, 1, -1]  # the low-confidence copy of t1 keeps t1's label
    c = D.filter_counts(t, split, 0.5, True, 1)
    assert c == {"library_unfiltered": 4, "library": 2, "removed_by_roundtrip": 1, "removed_by_confidence": 1,
                 "reactions_failing_roundtrip": 1, "reactions_below_confidence": 2}
    prec = D.precedents(t, split, labels, lib)
    assert prec == [[["a", "R>>P"], ["b", "R>>Q"]], [["e", "R>>T"]]]
    assert list(D.template_trust(t, 0.0, roundtrip=False)) == [True] * 6


def test_dataset_drops_templates_that_fail_the_round_trip(tmp_path):
    rows = [("amide", AMIDE), ("suzuki", SUZUKI), ("boc", BOC), ("sulfonate", SULFONATE), ("broken", BROKEN)]
    on = _tiny_dataset(tmp_path / "on", rows, test_fraction=0.01, val_fraction=0.01, min_steps=5, max_steps=5)
    off = _tiny_dataset(tmp_path / "off", rows, test_fraction=0.01, val_fraction=0.01, min_steps=5, max_steps=5,
                        template_roundtrip=False)
    broken_tpl = extract_template(BROKEN)
    if broken_tpl:
        assert broken_tpl in off.library and broken_tpl not in on.library
        assert on.summary()["templates_removed_by_roundtrip"] == 1
    assert set(on.library) >= {extract_template(m) for m in (AMIDE, SUZUKI, BOC, SULFONATE)}
    # every library template lists the training reactions it came from
    assert [p[0][0] for p in on.metadata["precedents"]] and all(on.metadata["precedents"])


def _planner_with_precedents():
    templates = [extract_template(AMIDE), extract_template(SUZUKI)]
    stock = Stock()
    stock.add_smiles(["CC(=O)Cl", "Nc1ccc(Br)cc1", "OB(O)c1ccccc1"])
    prec = [[["ORD-1", "CC(=O)Cl.Nc1ccc(-c2ccccc2)cc1>>" + canonical_smiles(TARGET)],
             ["ORD-2", "CC(=O)Cl.Nc1ccccc1>>CC(=O)Nc1ccccc1"]],
            [["ORD-3", "Brc1ccccc1.OB(O)c1ccccc1>>c1ccc(-c2ccccc2)cc1"]]]
    uniform = lambda fp: np.full(2, 0.5)  # noqa: E731
    cfg = SearchConfig(time_limit=30.0, max_iterations=200, max_routes=5)
    return MCTS(Expander(templates, uniform, precedents=prec), stock, cfg)


def test_route_steps_carry_precedents_and_text_shows_precursors_under_each_step(tmp_path):
    res = _planner_with_precedents().search(canonical_smiles(TARGET))
    assert res.solved and len(res.routes) >= 2
    best = res.routes[0]
    steps = best.steps()
    assert [s["step"] for s in steps] == list(range(1, best.n_steps + 1))
    for s in steps:
        prec = s["metadata"]["precedents"]
        assert prec["n"] >= 1 and prec["most_similar"]["id"].startswith("ORD-")
        assert 0.0 <= prec["most_similar"]["tanimoto"] <= 1.0
        assert s["is_reaction"] and s["metadata"]["template"] == s["template"]
    amide = [s for s in steps if s["template_index"] == 0][0]
    if amide["smiles"].endswith(canonical_smiles(TARGET)):  # the recorded reaction itself is its best precedent
        assert amide["metadata"]["precedents"]["most_similar"] == {
            "id": "ORD-1", "smiles": "CC(=O)Cl.Nc1ccc(-c2ccccc2)cc1>>" + canonical_smiles(TARGET), "tanimoto": 1.0}
    text = best.to_text()
    assert "step 1:" in text and "precedent ORD-" in text and "[stock]" in text and "[made in step 2]" in text
    lines = text.splitlines()
    # each precursor line sits under its step line
    i1 = next(i for i, ln in enumerate(lines) if "step 1:" in ln)
    i2 = next(i for i, ln in enumerate(lines) if "step 2:" in ln)
    assert i1 < i2 and any("[made in step 2]" in ln for ln in lines[i1:i2])
    # scores rank the routes
    assert [r.score for r in res.routes] == sorted((r.score for r in res.routes), reverse=True) or \
        [r.n_steps for r in res.routes] == sorted(r.n_steps for r in res.routes)
    fig = draw_routes(res.routes)
    fig.savefig(tmp_path / "routes.png")
    assert (tmp_path / "routes.png").stat().st_size > 5000
    assert draw_routes([]) is None


def test_route_json_follows_aizynthfinder_reaction_tree_layout(tmp_path):
    from sciml_retro.route import save_routes

    res = _planner_with_precedents().search(canonical_smiles(TARGET))
    save_routes(res.routes, tmp_path / "r.json")
    tree = json.loads((tmp_path / "r.json").read_text())["routes"][0]["tree"]

    def check(node):
        if node["type"] == "mol":
            assert node["is_chemical"] is True and isinstance(node["in_stock"], bool) and "smiles" in node
            assert len(node["children"]) <= 1
        else:
            assert node["type"] == "reaction" and node["is_reaction"] is True and "metadata" in node
            assert node["smiles"].split(">>")[1] and node["children"]
        for c in node["children"]:
            check(c)

    check(tree)
    leaves = load_routes(tmp_path / "r.json")[0].leaves()
    assert all(canonical_smiles(s) for s in leaves)


def test_precedent_info_picks_the_most_similar_product():
    rx = [["x", "CC(=O)Cl.N>>CC(N)=O"], ["y", "CC(=O)Cl.Nc1ccccc1>>CC(=O)Nc1ccccc1"]]
    info = precedent_info("CC(=O)Nc1ccc(C)cc1", rx)
    assert info["n"] == 2 and info["most_similar"]["id"] == "y" and info["most_similar"]["tanimoto"] < 1
    assert precedent_info("CCO", []) == {}


def test_policy_keeps_precedents_through_save_and_load(tmp_path):
    import torch
    from sciml_retro.cli import load_model_any
    from sciml_retro.model import RetroPolicy

    meta = {"n_bits": 64, "radius": 2, "n_templates": 2, "templates": ["[C:1]>>[C:1]", "[N:1]>>[N:1]"],
            "precedents": [[["a", "C>>C"]], [["b", "N>>N"], ["c", "NN>>N"]]]}
    m = RetroPolicy(RetroPolicy.Config(hidden_size=16, filter_hidden=8), meta)
    # the model directory's metadata.json lacks the precedents here: the library buffer of the weights carries them
    back = load_model_any(str(_save_policy(m, tmp_path / "dir")))
    assert back.precedents == meta["precedents"] and back.templates == meta["templates"]
    x = torch.rand(2, 64)
    assert torch.allclose(back(x), m.eval()(x))
    plain = RetroPolicy(RetroPolicy.Config(hidden_size=16, filter_hidden=8), {k: v for k, v in meta.items()
                                                                              if k != "precedents"})
    assert plain.precedents == [] and plain.template_library.shape != m.template_library.shape
    plain.load_state_dict(m.state_dict())
    assert plain.precedents == meta["precedents"]


def _batch_setup(tmp_path):
    from sciml_retro.model import RetroPolicy

    meta = {"n_bits": 64, "radius": 2, "n_templates": 2,
            "templates": [extract_template(AMIDE), extract_template(SUZUKI)],
            "precedents": [[["ORD-1", "CC(=O)Cl.Nc1ccccc1>>CC(=O)Nc1ccccc1"]], [["ORD-3", "Brc1ccccc1.OBO>>c1ccccc1"]]]}
    _save_policy(RetroPolicy(RetroPolicy.Config(hidden_size=8, filter_hidden=8), meta), tmp_path / "p")
    (tmp_path / "stock.txt").write_text("CC(=O)Cl\nNc1ccc(Br)cc1\nOB(O)c1ccccc1\nNc1ccc(O)cc1\nCC(=O)Nc1ccc(O)cc1\n")
    (tmp_path / "targets.smi").write_text(f"# drugs and toys\n{TARGET} biaryl amide\nCC(=O)Nc1ccc(O)cc1 paracetamol\n"
                                          "C1CC( broken\nCCCCCCCC octane\n")
    return {"model": str(tmp_path / "p"), "stock": str(tmp_path / "stock.txt"), "time_limit": 3.0,
            "iterations": 50}


@pytest.mark.parametrize("workers", [1, 2])
def test_batch_planning_writes_summary_and_one_file_per_target(tmp_path, workers):
    from sciml_retro.cli import batch_command

    kw = _batch_setup(tmp_path)
    lines: list[str] = []
    out = tmp_path / f"out{workers}"
    assert batch_command(tmp_path / "targets.smi", out, echo=lines.append, workers=workers,
                         progress=lambda it, total: it, **kw) == 0
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert [r["name"] for r in rows] == ["biaryl amide", "paracetamol", "broken", "octane"]
    by = {r["name"]: r for r in rows}
    assert by["biaryl amide"]["solved"] == "True" and by["biaryl amide"]["steps"] == "2"
    assert float(by["biaryl amide"]["time_to_first_s"]) <= 3.0 and float(by["biaryl amide"]["best_score"]) < 0
    assert by["paracetamol"]["target_in_stock"] == "True" and by["paracetamol"]["solved"] == "True"
    assert by["paracetamol"]["steps"] == "1"  # planned without itself in the stock
    assert "not a valid SMILES" in by["broken"]["error"] and by["broken"]["solved"] == "False"
    assert by["octane"]["solved"] == "False" and by["octane"]["error"] == ""
    files = sorted(p.name for p in out.iterdir())
    assert "0001_biaryl_amide.json" in files and "0001_biaryl_amide.png" in files and "0004_octane.json" in files
    assert "0004_octane.png" not in files
    data = json.loads((out / "0001_biaryl_amide.json").read_text())
    assert data["solved"] and data["routes"][0]["tree"]["children"][0]["metadata"]["precedents"]["n"] >= 1
    assert "2/4 targets solved" in lines[-1] and "1 target(s) were in the stock" in lines[-1]


def test_batch_planning_errors_are_one_clear_message(tmp_path):
    from sciml_retro.cli import batch_command

    kw = _batch_setup(tmp_path)
    with pytest.raises(sciml.UserError, match="does not exist"):
        batch_command(tmp_path / "nope.smi", tmp_path / "o", **kw)
    (tmp_path / "empty.smi").write_text("# nothing\n")
    with pytest.raises(sciml.UserError, match="no target"):
        batch_command(tmp_path / "empty.smi", tmp_path / "o", **kw)
    with pytest.raises(sciml.UserError, match="workers"):
        batch_command(tmp_path / "targets.smi", tmp_path / "o", workers=0, **kw)


def test_cli_plan_needs_one_target_or_a_target_file(tmp_path):
    from click.testing import CliRunner
    from sciml_cli.main import get_cli

    cli = get_cli()
    res = CliRunner().invoke(cli, ["retro", "plan"])
    assert res.exit_code == 2 and "one target SMILES or --targets" in res.output
    res = CliRunner().invoke(cli, ["retro", "plan", "--targets", str(tmp_path / "t.smi")])
    assert res.exit_code == 2 and "--output-dir" in res.output
    kw = _batch_setup(tmp_path)
    res = CliRunner().invoke(cli, ["retro", "plan", "--targets", str(tmp_path / "targets.smi"), "--output-dir",
                                   str(tmp_path / "o"), "--model", kw["model"], "--stock", kw["stock"],
                                   "--time-limit", "2", "--iterations", "30"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "summary.csv").is_file()


def test_route_from_dict_still_rejects_bad_objects():
    with pytest.raises(sciml.UserError, match="route"):
        Route.from_dict({"tree": {}})


def test_filter_negatives_never_label_a_recorded_disconnection_infeasible():
    from sciml_retro.dataset import make_negatives

    # two recorded ways to the same biaryl amide: amide coupling, and Suzuki coupling of the bromo amide
    amide, suzuki = extract_template(AMIDE), extract_template(SUZUKI)
    suzuki_amide = extract_template(
        "Br[c:1]1[cH:2][cH:3][c:4]([NH:7][C:14]([CH3:15])=[O:16])[cH:5][cH:6]1.OB(O)[c:8]1[cH:9][cH:10][cH:11][cH:12]"
        "[cH:13]1>>[c:1]1([c:8]2[cH:9][cH:10][cH:11][cH:12][cH:13]2)[cH:2][cH:3][c:4]([NH:7][C:14]([CH3:15])=[O:16])"
        "[cH:5][cH:6]1")
    library = [amide, suzuki_amide, suzuki]
    prod = canonical_smiles(TARGET)
    by_amide = ".".join(sorted([canonical_smiles("CC(=O)Cl"), canonical_smiles("Nc1ccc(-c2ccccc2)cc1")]))
    by_suzuki = frozenset([canonical_smiles("CC(=O)Nc1ccc(Br)cc1"), canonical_smiles("OB(O)c1ccccc1")])
    swapped = frozenset([canonical_smiles("Brc1ccccc1"), canonical_smiles("CC(=O)Nc1ccc(B(O)O)cc1")])

    def negatives(known):
        out = make_negatives(np.array([prod]), np.array([by_amide]), np.array([0]), library,
                             np.random.default_rng(0), per_product=10, known={prod: known})
        return [frozenset(n[1]) for n in out]

    # the Suzuki templates give two disconnections of the biaryl (Br on either ring; their order is rdchiral's)
    assert negatives(set()) and set(negatives(set())) <= {by_suzuki, swapped}
    # a recorded disconnection is never a negative; the unrecorded one still is
    assert set(negatives({by_suzuki})) == {swapped}
    assert set(negatives({swapped})) == {by_suzuki}
    assert negatives({by_suzuki, swapped}) == []
    # and the recorded reaction itself never is one
    assert frozenset(by_amide.split(".")) not in negatives(set())
