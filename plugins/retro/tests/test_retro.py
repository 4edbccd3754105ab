"""Fast tests of the retro plugin: templates, stock, MCTS on a toy case, routes, loaders, errors."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import sciml
from sciml_retro.chem import canonical_smiles, inchikey, parse_target
from sciml_retro.reactions import load_reactions
from sciml_retro.route import Route, draw_route, load_routes, save_routes
from sciml_retro.search import MCTS, Expander, SearchConfig
from sciml_retro.stock import Stock
from sciml_retro.templates import apply_template, clear_unmapped_reactant_maps, extract_template

# hand-mapped reactions: amide coupling (Cl leaves), Suzuki coupling (Br and B(OH)2 leave), Boc removal,
# sulfonate ester (a USPTO/ORD reaction of the committed set, mapped by RXNMapper)
AMIDE = ("[CH3:1][C:2](=[O:3])Cl.[NH2:5][c:6]1[cH:7][cH:8][c:9]([c:12]2[cH:13][cH:14][cH:15][cH:16][cH:17]2)"
         "[cH:10][cH:11]1>>[CH3:1][C:2](=[O:3])[NH:5][c:6]1[cH:7][cH:8][c:9]([c:12]2[cH:13][cH:14][cH:15][cH:16]"
         "[cH:17]2)[cH:10][cH:11]1")
SUZUKI = ("Br[c:1]1[cH:2][cH:3][c:4]([NH2:7])[cH:5][cH:6]1.OB(O)[c:8]1[cH:9][cH:10][cH:11][cH:12][cH:13]1>>"
          "[c:1]1([c:8]2[cH:9][cH:10][cH:11][cH:12][cH:13]2)[cH:2][cH:3][c:4]([NH2:7])[cH:5][cH:6]1")
BOC = ("CC(C)(C)[O:9][C:8](=[O:10])[NH:1][CH2:2][c:3]1[cH:4][cH:5][cH:6][cH:7][cH:11]1>>"
       "[NH2:1][CH2:2][c:3]1[cH:4][cH:5][cH:6][cH:7][cH:11]1")
SULFONATE = ("Cl[S:3]([CH2:2][CH3:1])(=[O:4])=[O:5].[OH:6][CH2:7][CH2:8][Br:9]>>"
             "[CH3:1][CH2:2][S:3](=[O:4])(=[O:5])[O:6][CH2:7][CH2:8][Br:9]")


def _sides(mapped):
    reac, _, prod = mapped.split(">")
    return tuple(sorted(canonical_smiles(s) for s in reac.split("."))), canonical_smiles(prod)


@pytest.mark.parametrize("mapped", [AMIDE, SUZUKI, SULFONATE])
def test_extracted_template_recovers_recorded_reactants(mapped):
    tpl = extract_template(mapped)
    assert tpl is not None and ">>" in tpl
    reactants, product = _sides(mapped)
    assert reactants in apply_template(tpl, product)


def test_clear_unmapped_reactant_maps_zeroes_leaving_atoms():
    cleaned = clear_unmapped_reactant_maps(BOC)
    reac = cleaned.split(">>")[0]
    # atoms 8, 9, 10 of the Boc group are absent from the product: their map numbers are gone
    for n in (8, 9, 10):
        assert f":{n}]" not in reac
    assert ":1]" in reac and ":2]" in reac


def test_boc_template_applies_to_a_new_amine():
    tpl = extract_template(BOC)
    assert tpl is not None
    outs = apply_template(tpl, "NCc1ccc(Cl)cc1")
    assert any(canonical_smiles("CC(C)(C)OC(=O)NCc1ccc(Cl)cc1") in o for o in outs)
    assert apply_template(tpl, "c1ccccc1") == []  # no amine: the template does not match


def test_stock_canonicalises_by_inchikey(tmp_path):
    p = tmp_path / "stock.txt"
    key = inchikey("CCO")
    p.write_text(f"# my stock\nOCC ethanol\n{inchikey('c1ccccc1')}\n\nC(=O)O\n")
    s = Stock.from_file(p)
    assert len(s) == 3
    assert "CCO" in s and "C(C)O" in s and key in s  # other spellings, and the key itself
    assert "c1ccccc1" in s and "OC=O" in s
    assert "CCN" not in s and "not a smiles" not in s
    s.save(tmp_path / "keys.txt.gz")
    assert Stock.from_file(tmp_path / "keys.txt.gz").keys == s.keys


def test_stock_file_errors_name_the_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("CCO\nC1CC(\n")
    with pytest.raises(sciml.UserError, match="line 2.*C1CC\\("):
        Stock.from_file(p)
    with pytest.raises(sciml.UserError, match="does not exist"):
        Stock.from_file(tmp_path / "missing.txt")


def _toy_planner(seed=0, **kw):
    templates = [extract_template(AMIDE), extract_template(SUZUKI), extract_template(BOC)]
    assert all(templates)
    stock = Stock()
    stock.add_smiles(["CC(=O)Cl", "Nc1ccc(Br)cc1", "OB(O)c1ccccc1"])
    uniform = lambda fp: np.full(len(templates), 1.0 / len(templates))  # noqa: E731
    cfg = SearchConfig(time_limit=30.0, max_iterations=kw.pop("max_iterations", 200), seed=seed, **kw)
    return MCTS(Expander(templates, uniform), stock, cfg), templates


def test_mcts_solves_two_step_toy_case():
    planner, templates = _toy_planner()
    target = canonical_smiles("CC(=O)Nc1ccc(-c2ccccc2)cc1")
    res = planner.search(target)
    assert res.solved and res.routes
    best = res.routes[0]
    assert best.n_steps == 2
    assert sorted(best.leaves()) == sorted(canonical_smiles(s) for s in ["CC(=O)Cl", "Nc1ccc(Br)cc1", "OB(O)c1ccccc1"])
    c = canonical_smiles
    amide_first = {(target, ".".join(sorted([c("CC(=O)Cl"), c("Nc1ccc(-c2ccccc2)cc1")]))),
                   (c("Nc1ccc(-c2ccccc2)cc1"), ".".join(sorted([c("Nc1ccc(Br)cc1"), c("OB(O)c1ccccc1")])))}
    suzuki_first = {(target, ".".join(sorted([c("CC(=O)Nc1ccc(Br)cc1"), c("OB(O)c1ccccc1")]))),
                    (c("CC(=O)Nc1ccc(Br)cc1"), ".".join(sorted([c("CC(=O)Cl"), c("Nc1ccc(Br)cc1")])))}
    assert best.signature() in (frozenset(amide_first), frozenset(suzuki_first))
    assert res.time_to_first is not None and res.time_to_first <= res.elapsed


def test_mcts_depth_limit_and_unsolvable():
    planner, _ = _toy_planner(max_depth=1)
    res = planner.search(canonical_smiles("CC(=O)Nc1ccc(-c2ccccc2)cc1"))
    assert not res.solved and res.routes == []  # needs 2 reactions
    planner, _ = _toy_planner()
    res = planner.search(canonical_smiles("CCCCCCCC"))  # no template applies
    assert not res.solved and res.iterations >= 1


def test_mcts_is_deterministic_with_a_seed():
    target = canonical_smiles("CC(=O)Nc1ccc(-c2ccccc2)cc1")
    a = _toy_planner(seed=3, rollout_depth=2, max_iterations=30, max_routes=10)[0].search(target)
    b = _toy_planner(seed=3, rollout_depth=2, max_iterations=30, max_routes=10)[0].search(target)
    assert [r.to_dict() for r in a.routes] == [r.to_dict() for r in b.routes]
    assert a.iterations == b.iterations and a.n_nodes == b.n_nodes


def test_route_json_round_trip_and_picture(tmp_path):
    planner, _ = _toy_planner()
    res = planner.search(canonical_smiles("CC(=O)Nc1ccc(-c2ccccc2)cc1"))
    path = tmp_path / "route.json"
    save_routes(res.routes, path, {"target": res.target})
    back = load_routes(path)
    assert [r.to_dict() for r in back] == [r.to_dict() for r in res.routes]
    assert back[0].signature() == res.routes[0].signature()
    assert json.loads(path.read_text())["routes"][0]["tree"]["children"][0]["type"] == "reaction"
    fig = draw_route(back[0])
    fig.savefig(tmp_path / "route.png")
    assert (tmp_path / "route.png").stat().st_size > 1000
    with pytest.raises(sciml.UserError, match="route"):
        Route.from_dict({"tree": {}})


@pytest.mark.parametrize("bad", ["C1CC(", "", "CC>>CO", "xyz"])
def test_bad_smiles_is_one_user_error(bad):
    with pytest.raises(sciml.UserError) as exc:
        parse_target(bad)
    assert "SMILES" in str(exc.value) or "reaction" in str(exc.value)


def test_plan_command_bad_smiles_raises_user_error():
    from sciml_retro.cli import plan_command

    with pytest.raises(sciml.UserError, match="not a valid SMILES"):
        plan_command("C1CC(", model="/nonexistent.pt")


def test_reaction_file_loaders(tmp_path):
    smi = tmp_path / "r.smi"
    smi.write_text("CC(=O)Cl.Nc1ccccc1>>CC(=O)Nc1ccccc1 rxn1\nCCO.CC(=O)O>O>CCOC(C)=O\n")
    recs = load_reactions(smi)
    assert [r["id"] for r in recs] == ["rxn1", "r-2"] and recs[1]["reactants"] == ["CCO", "CC(=O)O"]
    assert recs[1]["product"] == "CCOC(C)=O"
    csv = tmp_path / "r.csv"
    csv.write_text("id,reactants,product\na,CCO.CC(=O)O,CCOC(C)=O\n")
    assert load_reactions(csv)[0] == {"id": "a", "reactants": ["CCO", "CC(=O)O"], "product": "CCOC(C)=O"}
    js = tmp_path / "r.json.gz"
    with gzip.open(js, "wt") as fh:
        json.dump([{"id": "x", "reactants_smiles": ["CCO", "CC(=O)O"], "product_smiles": "CCOC(C)=O"}], fh)
    assert load_reactions(js)[0]["reactants"] == ["CCO", "CC(=O)O"]
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    with pytest.raises(sciml.UserError, match="no reaction column"):
        load_reactions(bad)
    two = tmp_path / "two.smi"
    two.write_text("CCO>>CC.O\n")
    with pytest.raises(sciml.UserError, match="2 products"):
        load_reactions(two)
    (tmp_path / "r.xyz").write_text("x")
    with pytest.raises(sciml.UserError, match="extension"):
        load_reactions(tmp_path / "r.xyz")


def test_topk_accuracy_counts_library_misses():
    import torch
    from sciml_retro.evaluate import topk_accuracy

    class Fixed(torch.nn.Module):  # logits rank template 0 > 1 > 2 > 3 for every input
        def forward(self, x):
            return torch.tensor([[4.0, 3.0, 2.0, 1.0]]).repeat(len(x), 1)

    fps = np.zeros((4, 8), dtype=np.uint8)
    labels = np.array([0, 1, 3, -1])  # -1: template not in the library -> always a miss
    acc = topk_accuracy(Fixed(), fps, labels, ks=(1, 2, 4))
    assert acc == {1: 0.25, 2: 0.5, 4: 0.75}


def _save_policy(model, directory):
    """The model directory a trial writes (run_dir/model), as ``sciml.load_model`` reads it."""
    config = {"pipeline": "retro:default", "model": {"name": "retro:policy", **model.config.model_dump()}}
    meta = {"n_bits": model.n_bits, "radius": model.radius, "n_templates": len(model.templates),
            "templates": model.templates}
    return sciml.save_model_dir(directory, model, config, meta)


def test_policy_model_directory_carries_its_template_library(tmp_path):
    import torch
    from sciml_retro.cli import load_model_any
    from sciml_retro.model import RetroPolicy

    meta = {"n_bits": 64, "radius": 2, "n_templates": 2, "templates": ["[C:1]>>[C:1]", "[N:1]>>[N:1]"]}
    m = RetroPolicy(RetroPolicy.Config(hidden_size=16, filter_hidden=8), meta)
    back = load_model_any(str(_save_policy(m, tmp_path / "model")))
    assert back.templates == meta["templates"] and back.config.hidden_size == 16 and not back.training
    x = torch.rand(3, 64)
    assert torch.allclose(back(x), m.eval()(x))
    (tmp_path / "model" / "metadata.json").unlink()
    with pytest.raises(sciml.UserError, match="no metadata.json.*sciml run retro"):
        load_model_any(str(tmp_path / "model"))


def test_shortest_routes_stock_and_route_split_on_a_hand_made_network():
    from sciml_retro import data as D

    c = canonical_smiles
    # A + B -> C ; C + D -> E ; E -> F (3 steps) ; and a second, longer way to C: G -> H -> C
    rxns = [("CC(=O)Cl.Nc1ccccc1", "CC(=O)Nc1ccccc1"),                 # C from A + B
            ("CC(=O)Nc1ccccc1.O=[N+]([O-])O", "CC(=O)Nc1ccc([N+](=O)[O-])cc1"),  # E from C + D
            ("CC(=O)Nc1ccc([N+](=O)[O-])cc1", "CC(=O)Nc1ccc(N)cc1"),    # F from E
            ("CCOC(C)=O.Nc1ccccc1", "CC(=O)Nc1ccccc1")]                  # C again, other reactants
    table = {"products": np.array([c(p) for _, p in rxns]),
             "reactants": np.array([".".join(sorted(c(s) for s in r.split("."))) for r, _ in rxns]),
             "templates": np.array(["t1", "t2", "t3", "t1"])}
    stock = D.builtin_stock(table["products"], table["reactants"], extra=())
    assert len(stock) == 4 and c("CC(=O)Nc1ccccc1") not in stock and "Nc1ccccc1" in stock
    cost, best = D.shortest_routes(table["products"], table["reactants"], stock)
    assert cost[inchikey(c("CC(=O)Nc1ccccc1"))] == 1
    assert cost[inchikey(c("CC(=O)Nc1ccc([N+](=O)[O-])cc1"))] == 2
    assert cost[inchikey(c("CC(=O)Nc1ccc(N)cc1"))] == 3
    sp = D.route_split(table, stock, min_steps=3, max_steps=3, test_fraction=0.5, val_fraction=0.0)
    assert sp["targets"] == [c("CC(=O)Nc1ccc(N)cc1")] and sp["n_benchmark"] == 1
    assert sorted(sp["target_routes"][0]) == [0, 1, 2] and list(sp["split"]) == [2, 2, 2, 0]
    assert sp["val_targets"] == [] and sp["val_target_routes"] == []
    lib, labels, counts = D.template_library(table["templates"], sp["split"], min_count=1)
    assert lib == ["t1"] and list(labels) == [0, -1, -1, 0]  # only training reactions count


def test_mapping_output_resumes_and_compresses(tmp_path, monkeypatch):
    from sciml_retro import mapping

    src = tmp_path / "in.smi"
    src.write_text("CC(=O)Cl.Nc1ccccc1>>CC(=O)Nc1ccccc1 a\nCCO.CC(=O)O>>CCOC(C)=O b\nCO.CC(=O)O>>COC(C)=O c\n")
    out = tmp_path / "mapped.jsonl"
    # a run killed mid-line: one complete line, one truncated
    out.write_text(json.dumps({"id": "a", "rxn": "x", "mapped": "[CH3:1]>>[CH3:1]", "confidence": 0.9}) + '\n{"id": "b", "rx')
    assert mapping.done_ids(out) == {"a"}

    class FakeMapper:  # stands in for RXNMapper: records what it is asked to map
        seen: list = []

        def get_attention_guided_atom_maps(self, rxns):
            FakeMapper.seen += rxns
            return [{"mapped_rxn": r, "confidence": 0.5} for r in rxns]

    monkeypatch.setattr(mapping, "_mapper", lambda: FakeMapper())
    assert mapping.map_file(src, out, batch_size=1, log=lambda m: None) == 2
    assert FakeMapper.seen == ["CCO.CC(=O)O>>CCOC(C)=O", "CO.CC(=O)O>>COC(C)=O"]  # 'a' was not mapped again
    assert mapping.map_file(src, out, log=lambda m: None) == 0
    n = mapping.compress(out, tmp_path / "m.jsonl.gz")
    with gzip.open(tmp_path / "m.jsonl.gz", "rt") as fh:
        rows = [json.loads(x) for x in fh]
    assert n == 3 and [r["id"] for r in rows] == ["a", "b", "c"]


def test_predict_reads_target_files(tmp_path):
    from sciml_retro.predict import read_targets

    (tmp_path / "t.smi").write_text("# targets\nCCO ethanol\n\nc1ccccc1\n")
    assert read_targets(tmp_path / "t.smi") == ["CCO", "c1ccccc1"]
    (tmp_path / "t.csv").write_text("name,smiles\na,CCN\n")
    assert read_targets(tmp_path / "t.csv") == ["CCN"]
    (tmp_path / "u.csv").write_text("name,mol\na,CCN\n")
    with pytest.raises(sciml.UserError, match="'smiles' column"):
        read_targets(tmp_path / "u.csv")


def test_max_routes_caps_the_routes_returned():
    target = canonical_smiles("CC(=O)Nc1ccc(-c2ccccc2)cc1")
    many = _toy_planner(max_routes=10)[0].search(target)
    one = _toy_planner(max_routes=1)[0].search(target)
    assert len(many.routes) >= 2 and len(one.routes) == 1
    assert one.routes[0].n_steps == min(r.n_steps for r in many.routes)


# --- issue 11: no leakage, validation selects, a trivial baseline ---------------------------------------------

# the same reactions as AMIDE and SUZUKI under other record IDs: other atom-map numbers, reactants in another
# order, and (AMIDE) an unmapped solvent molecule on the reactant side
AMIDE_COPY = ("CCO.[NH2:15][c:16]1[cH:17][cH:18][c:19]([c:22]2[cH:23][cH:24][cH:25][cH:26][cH:27]2)[cH:20][cH:21]1."
              "[CH3:11][C:12](=[O:13])Cl>>[CH3:11][C:12](=[O:13])[NH:15][c:16]1[cH:17][cH:18][c:19]([c:22]2[cH:23]"
              "[cH:24][cH:25][cH:26][cH:27]2)[cH:20][cH:21]1")
SUZUKI_COPY = ("OB(O)[c:8]1[cH:9][cH:10][cH:11][cH:12][cH:13]1.Br[c:1]1[cH:2][cH:3][c:4]([NH2:7])[cH:5][cH:6]1>>"
               "[c:1]1([c:8]2[cH:9][cH:10][cH:11][cH:12][cH:13]2)[cH:2][cH:3][c:4]([NH2:7])[cH:5][cH:6]1")


def test_reaction_key_ignores_maps_order_and_reagents():
    from sciml_retro.data import reaction_key

    assert reaction_key(AMIDE) == reaction_key(AMIDE_COPY) == reaction_key(AMIDE.replace(">>", ">CCO>"))
    assert reaction_key(SUZUKI) == reaction_key(SUZUKI_COPY)
    assert reaction_key(AMIDE) != reaction_key(SUZUKI)
    assert reaction_key("CC(=O)Cl.Nc1ccccc1>>CC(=O)Nc1ccccc1") == "CC(=O)Cl.Nc1ccccc1>>CC(=O)Nc1ccccc1"
    assert reaction_key("C1CC(>>CC") is None and reaction_key("CC") is None


def _tiny_dataset(tmp_path, rows, **cfg):
    from sciml.testing import make_context
    from sciml_retro.dataset import RetroDataset

    path = tmp_path / "mapped.jsonl"
    path.write_text("".join(json.dumps({"id": i, "mapped": m}) + "\n" for i, m in rows))
    cfg = {"mapped_reactions": str(path), "template_min_count": 1, "n_bits": 64, "filter_negatives": 0,
           "min_steps": 2, "max_steps": 2, **cfg}
    ds = RetroDataset(RetroDataset.Config(**cfg), make_context(tmp_path / "ctx"))
    ds.prepare()
    return ds


def test_duplicate_reactions_with_other_ids_stay_on_one_side_of_the_split(tmp_path):
    # AMIDE + SUZUKI make a 2-step route to the acetamide (the only benchmark target): the route goes to test.
    # Its copies under other IDs used to stay in training (issue 11: 11-13 % of test reactions had one).
    rows = [("amide-a", AMIDE), ("suzuki-a", SUZUKI), ("boc", BOC), ("amide-b", AMIDE_COPY),
            ("sulfonate", SULFONATE), ("suzuki-b", SUZUKI_COPY), ("amide-c", AMIDE)]
    ds = _tiny_dataset(tmp_path, rows, test_fraction=0.4, val_fraction=0.1)
    t, split = ds.table, ds.arrays["split"]
    side = {}
    for prod, reac, s in zip(t["products"], t["reactants"], split, strict=True):
        reac = ".".join(sorted(m for m in reac.split(".") if m != "CCO"))  # the copy's solvent is not a reactant
        side.setdefault((reac, prod), set()).add(int(s))
    assert ds.targets == [canonical_smiles("CC(=O)Nc1ccc(-c2ccccc2)cc1")]
    assert all(len(s) == 1 for s in side.values()), side  # every reaction on one side only
    assert sorted(map(str, t["ids"])) == ["amide-a", "boc", "sulfonate", "suzuki-a"]  # first copy kept
    assert ds.summary()["n_duplicates_removed"] == 3 and ds.summary()["n_reactions"] == 4


def test_validation_targets_are_held_out_on_their_own_routes():
    from sciml_retro import data as D

    c = canonical_smiles
    # two separate 2-step routes: one goes to test, the other to validation, nothing of either to training
    rxns = [("CC(=O)Cl.Nc1ccccc1", "CC(=O)Nc1ccccc1"), ("CC(=O)Nc1ccccc1.O=[N+]([O-])O", "CC(=O)Nc1ccc([N+](=O)[O-])cc1"),
            ("CCC(=O)Cl.Nc1ccncc1", "CCC(=O)Nc1ccncc1"), ("CCC(=O)Nc1ccncc1.CI", "CCC(=O)N(C)c1ccncc1"),
            ("CCOC(C)=O.NCc1ccccc1", "CC(=O)NCc1ccccc1"), ("CO.O=C(O)c1ccccc1", "COC(=O)c1ccccc1")]
    table = {"products": np.array([c(p) for _, p in rxns]),
             "reactants": np.array([".".join(sorted(c(s) for s in r.split("."))) for r, _ in rxns])}
    stock = D.builtin_stock(table["products"], table["reactants"], extra=())
    sp = D.route_split(table, stock, min_steps=2, max_steps=2, test_fraction=0.3, val_fraction=0.3, seed=0)
    assert len(sp["targets"]) == len(sp["val_targets"]) == 1 and sp["targets"] != sp["val_targets"]
    assert all(sp["split"][i] == 2 for i in sp["target_routes"][0])
    assert all(sp["split"][i] == 1 for i in sp["val_target_routes"][0])
    assert sorted(sp["target_routes"][0] + sp["val_target_routes"][0]) == [0, 1, 2, 3]
    assert list(sp["split"][4:]) == [0, 0]


PARACETAMOL = "CC(=O)Nc1ccc(O)cc1"


def _paracetamol_planner(**kw):
    stock = Stock()
    stock.add_smiles([PARACETAMOL, "CC(=O)Cl", "Nc1ccc(O)cc1"])  # the target is in the stock
    templates = [extract_template(AMIDE)]
    cfg = SearchConfig(time_limit=30.0, max_iterations=50, **kw)
    return MCTS(Expander(templates, lambda fp: np.ones(1)), stock, cfg)


def test_target_in_stock_is_not_a_zero_step_route_by_default():
    res = _paracetamol_planner().search(canonical_smiles(PARACETAMOL))
    assert res.solved and res.routes and min(r.n_steps for r in res.routes) == 1
    assert sorted(res.routes[0].leaves()) == sorted(canonical_smiles(s) for s in ["CC(=O)Cl", "Nc1ccc(O)cc1"])


def test_keep_target_in_stock_restores_the_zero_step_route():
    res = _paracetamol_planner(keep_target_in_stock=True).search(canonical_smiles(PARACETAMOL))
    assert res.solved and res.routes[0].n_steps == 0 and res.time_to_first == 0.0


def test_plan_command_takes_the_target_out_of_the_stock(tmp_path):
    from sciml_retro.cli import plan_command
    from sciml_retro.model import RetroPolicy

    meta = {"n_bits": 64, "radius": 2, "n_templates": 1, "templates": [extract_template(AMIDE)]}
    _save_policy(RetroPolicy(RetroPolicy.Config(hidden_size=8, filter_hidden=8), meta), tmp_path / "p")
    (tmp_path / "stock.txt").write_text(f"{PARACETAMOL}\nCC(=O)Cl\nNc1ccc(O)cc1\n")
    kw = {"model": str(tmp_path / "p"), "stock": str(tmp_path / "stock.txt"), "time_limit": 5, "iterations": 20}
    lines: list[str] = []
    assert plan_command(PARACETAMOL, echo=lines.append, output=str(tmp_path / "r.json"), **kw) == 0
    text = "\n".join(lines)
    assert "is in the stock; planning without it" in text and "0 step(s)" not in text and "1 step(s)" in text
    assert json.loads((tmp_path / "r.json").read_text())["target_in_stock"] is True
    lines.clear()
    assert plan_command(PARACETAMOL, echo=lines.append, keep_target_in_stock=True, **kw) == 0
    assert "Route 1: 0 step(s)" in "\n".join(lines)


def test_frequency_prior_counts_only_templates_that_apply():
    from sciml_retro.search import FrequencyExpander

    templates = [extract_template(AMIDE), extract_template(SUZUKI), extract_template(BOC)]
    ex = FrequencyExpander(templates, [5, 3, 2])
    p = ex.probs(canonical_smiles("CC(=O)Nc1ccc(-c2ccccc2)cc1"))  # amide and biaryl: not a Boc amine
    assert p[2] == 0.0 and p[0] > 0 and p[1] > 0 and np.isclose(p.sum(), 1.0)
    assert np.allclose(ex.probs("CCCCCCCC"), 0.0)  # nothing applies: no prior, no expansion
    assert ex.expand("CCCCCCCC") == []
    with pytest.raises(ValueError, match="shape"):
        FrequencyExpander(templates, [1, 2])


class _Reporter:
    """Records figures; draw_figure as the core's reporters do (a failing figure is only a warning)."""

    def __init__(self, root):
        self.root, self.figures = root, {}

    def log_figure(self, fig, name):
        fig.savefig(self.root / name)
        self.figures[name] = self.root / name

    def draw_figure(self, name, draw, *args, **kwargs):
        self.log_figure(draw(*args, **kwargs), name)
        return True


def test_evaluator_reports_val_and_test_and_the_frequency_baseline(tmp_path):
    from sciml.testing import check_selection_metric, make_context
    from sciml_retro.evaluate import PlanningEvaluator
    from sciml_retro.model import RetroPolicy

    ds = _tiny_dataset(tmp_path, [("amide", AMIDE), ("suzuki", SUZUKI), ("boc", BOC), ("sulfonate", SULFONATE)],
                       test_fraction=0.4, val_fraction=0.1)
    model = RetroPolicy(RetroPolicy.Config(hidden_size=8, filter_hidden=8), ds.metadata).eval()
    ev = PlanningEvaluator(PlanningEvaluator.Config(n_targets=2, time_limit=2.0, max_iterations=30),
                           make_context(tmp_path / "ev"))
    assert ev.search_config().keep_target_in_stock is False
    rep = _Reporter(tmp_path)
    res = ev.evaluate(model, ds, rep)
    for key in ("val_top1_accuracy", "test_top1_accuracy", "val_template_coverage", "test_solved_rate",
                "test_reference_found_rate"):
        assert key in res, key
    assert res["test_solved_rate"] == 0.0  # both steps of the only test route are held out of the library
    base = ev.baselines(model, ds, res)
    assert set(base) == {"template_frequency"}
    assert base["template_frequency"]["test_solved_rate"] == 0.0
    assert "solved_vs_time.png" in rep.figures
    check_selection_metric("default", "val_solved_rate", "max")
