"""Bad input, table-driven through the CLI: exit code 2, one line naming the bad value, no
traceback, nothing left half-written in the tracking store. Plus hypothesis fuzzing of the
config parser and of plugins' user-data parsers (only sciml.UserError may come out)."""

import importlib.util
import socket

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sciml.errors import UserError
from sciml_cli.main import get_cli


def installed(plugin):
    return importlib.util.find_spec(f"sciml_{plugin}") is not None


def needs(plugin):
    return pytest.mark.skipif(not installed(plugin), reason=f"plugin {plugin} is not installed")


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def files(tmp_path):
    """User files the rows point at (written fresh for every test)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "two_cols.csv").write_text("1,2\n3,4\n")
    (tmp_path / "not_yaml.yaml").write_text("model: [1, 2\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "formulas.csv").write_text("formula,formation_energy_per_atom\nXx2MnGa,-0.1\n")
    (tmp_path / "notes.txt").write_text("this is not an image\n")
    rows = ["plate,well,day,group,drug,concentration,image"]
    rows += [f"p1,B02,{d},untreated,none,0,notes.txt" for d in (7, 8, 9, 10)]
    (tmp_path / "plates.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


PORT = closed_port()

# (args, text the one line must contain); "{tmp}" is the test's directory of user files
ROWS = [
    (["run", "nope"], "unknown plugin 'nope'"),
    (["run", "toy:nope"], "unknown pipeline 'toy:nope'"),
    (["run", "toy", "--set", "model=toy:nope"], "unknown model 'toy:nope'"),
    (["run", "toy", "--set", "trainer=nope:x"], "unknown trainer 'nope:x'"),
    (["run", "toy", "--set", "model.hiden=3"], "'model.hiden'"),
    (["run", "toy", "--set", "modle.hidden=3"], "'modle.hidden'"),
    (["run", "toy", "--set", "model.hidden=eight"], "'model.hidden' ('eight')"),
    (["run", "toy", "--set", "model.hidden=0"], "'model.hidden' (0)"),
    (["run", "toy", "--set", "trainer.lr=-1"], "'trainer.lr' (-1)"),
    (["run", "toy", "--set", "trainer.max_epochs=2.5"], "'trainer.max_epochs' (2.5)"),
    # early stopping, the best checkpoint and ASHA never watch a test metric (issue 11)
    (["run", "toy", "--set", "trainer.monitor=test_mse"], "'trainer.monitor' ('test_mse')"),
    (["run", "toy", "--set", "dataset.n=5"], "'dataset.n' (5)"),
    (["run", "toy", "--set", "seed=-3"], "'seed' (-3)"),
    (["run", "toy", "--set", "nokey"], "'nokey'"),
    (["run", "toy", "--config", "{tmp}/not_yaml.yaml"], "not_yaml.yaml"),
    (["run", "toy", "--config", "{tmp}/list.yaml"], "list.yaml"),
    (["run", "toy", "--tune", "--search", "trainer.lr=loguniform(0, 1)"], "loguniform(0, 1)"),
    # found by the fuzz test below: bounds beyond int64 crashed numpy's sampler
    (["run", "toy", "--tune", "--search", "model.hidden=randint(0, 1E20)"], "randint bounds must be 64-bit"),
    (["run", "toy", "--tune", "--search", "model.width=choice(1, 2)"], "'model.width'"),
    (["run", "toy", "--tune", "--search", "model.hidden=choice(0)"], "'model.hidden' (0)"),
    (["run", "toy", "--tune", "--num-samples", "2", "--search", "trainer.optimizer=choice('lbfgs')"], "'lbfgs'"),
    (["run", "toy", "--tune", "--address", f"127.0.0.1:{PORT}"], f"127.0.0.1:{PORT}"),
    (["run", "toy", "--tune", "--address", "nohostport"], "nohostport"),
    (["run", "toy", "--tracking-uri", f"http://127.0.0.1:{PORT}"], f"http://127.0.0.1:{PORT}"),
    (["run", "toy", "--tracking-uri", "ftp://x/y"], "ftp://x/y"),
    (["run", "toy", "--device", "cuda:7"], "cuda:7"),
    (["resume", "0123456789abcdef"], "0123456789abcdef"),
    (["predict", "toy", "--model", "models:/sciml-nope@champion", "--input", "{tmp}/two_cols.csv"],
     "models:/sciml-nope@champion"),
    pytest.param(["run", "cgmap", "--set", "dataset.smiles=C1CC(", "--set", "trainer.max_epochs=1"],
                 "C1CC(", marks=needs("cgmap"), id="cgmap-malformed-smiles"),
    pytest.param(["run", "cgmap", "--set", "dataset.smiles=[Xe]C"], "[Xe]C", marks=needs("cgmap"),
                 id="cgmap-no-force-field"),
    pytest.param(["run", "ptrcnn", "--set", "dataset.source=csv", "--set", "dataset.path={tmp}/formulas.csv"],
                 "Xx", marks=needs("ptrcnn"), id="ptrcnn-unknown-element"),
    pytest.param(["run", "ptrcnn", "--set", "dataset.source=csv", "--set", "dataset.path={tmp}/empty.csv"],
                 "empty.csv", id="ptrcnn-empty-file",
                 marks=needs("ptrcnn")),
    pytest.param(["run", "ptrcnn", "--set", "dataset.source=csv", "--set", "dataset.path={tmp}/nothere.csv"],
                 "nothere.csv", marks=needs("ptrcnn"), id="ptrcnn-missing-file"),
    pytest.param(["run", "spheroid", "--set", "dataset.source=platemap", "--set",
                  "dataset.plate_map={tmp}/plates.csv"], "notes.txt", marks=needs("spheroid"),
                 id="spheroid-image-not-an-image"),
    pytest.param(["run", "spheroid", "--set", "dataset.source=platemap", "--set",
                  "dataset.plate_map={tmp}/empty.csv"], "empty.csv", marks=needs("spheroid"),
                 id="spheroid-empty-plate-map"),
]


@pytest.mark.parametrize("args,message", ROWS)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, message, sciml_store, tmp_path):
    tmp = files(tmp_path / "in")
    args = [a.replace("{tmp}", str(tmp)) for a in args]
    res = CliRunner().invoke(get_cli(), args)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 2, res.output[-2000:]
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output[-2000:]
    assert message in lines[0] and "Traceback" not in res.output
    db = sciml_store / "mlflow.db"
    if db.exists():  # runs made before the error was found were deleted again
        from mlflow import MlflowClient
        from mlflow.entities import ViewType

        c = MlflowClient(f"sqlite:///{db}", registry_uri=f"sqlite:///{db}")
        exps = [e.experiment_id for e in c.search_experiments(view_type=ViewType.ALL)]
        assert c.search_runs(exps, run_view_type=ViewType.ALL) == []
        runs_dir = sciml_store / "runs"
        assert not runs_dir.exists() or not [p for p in runs_dir.iterdir() if p.name != "tune"]


def test_wrong_shape_and_empty_user_files_in_predict(sciml_store, tmp_path):
    res = CliRunner().invoke(get_cli(), ["run", "toy", "--seed", "1"])
    assert res.exit_code == 0, res.output
    tmp = files(tmp_path)
    for name, message in (("two_cols.csv", "expected 3 columns, got 2"), ("empty.csv", "empty.csv")):
        res = CliRunner().invoke(get_cli(), ["predict", "toy", "--model", "models:/sciml-toy@champion",
                                             "--input", str(tmp / name)])
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code == 2 and len(lines) == 1 and message in lines[0], res.output[-2000:]


# --- fuzzing -------------------------------------------------------------------------------

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
funcs = st.sampled_from(["choice", "uniform", "loguniform", "randint", "grid", "normal", ""])
nums = st.one_of(st.integers(-10, 10), st.floats(allow_nan=True, allow_infinity=True), st.just("'a'"))


@FUZZ
@given(text)
def test_fuzz_parse_value_never_raises(value):
    from sciml.config import parse_value

    parse_value(value)


@FUZZ
@given(st.lists(text, max_size=4))
def test_fuzz_parse_sets_only_user_errors(items):
    from sciml.config import parse_sets

    try:
        out = parse_sets(items)
    except UserError:
        return
    assert len(out) == len(items)


@FUZZ
@given(st.one_of(text, st.builds(lambda f, a: f"{f}({', '.join(map(str, a))})", funcs, st.lists(nums, max_size=3)),
                 st.lists(nums, max_size=3), st.dictionaries(text, nums, max_size=2), st.integers()))
def test_fuzz_parse_space_only_user_errors(spec):
    from sciml.config import parse_space, sample_space

    try:
        func, args = parse_space(spec)
    except UserError:
        return
    sample_space({"x": (func, args)}, 2, 0)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["seed", "model", "model.hidden", "trainer.lr", "dataset.n",
                                           "trainer.optimizer", "evaluator.reject_above", "model.x.y",
                                           "trainer", "junk.key"]),
                          st.one_of(text, st.integers(-5, 1000), st.floats(allow_nan=True), st.booleans(),
                                    st.none(), st.lists(st.integers(), max_size=2),
                                    st.dictionaries(st.sampled_from(["hidden", "n", "lr"]), st.integers(-2, 50),
                                                    max_size=2))),
                max_size=4))
def test_fuzz_resolve_config_only_user_errors(sets):
    from sciml.config import resolve_config
    from sciml.registry import get_registry

    reg = get_registry()
    pipe = reg.pipeline("toy")
    try:
        cfg = resolve_config(pipe, reg, pipeline_key="toy:default", sets=sets)
    except UserError:
        return
    assert cfg["model"]["hidden"] >= 1 and cfg["trainer"]["lr"] > 0


@needs("ptrcnn")
@FUZZ
@given(st.one_of(text, st.from_regex(r"[A-Z][a-z]?[0-9]?[A-Z][a-z]?[0-9]?[A-Z][a-z]?[0-9]?", fullmatch=True)))
def test_fuzz_ptrcnn_formula_parser_only_user_errors(formula):
    from sciml_ptrcnn.elements import parse_formula

    try:
        parse_formula(formula)
    except UserError:
        pass


@needs("cgmap")
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(st.sampled_from("CNOc1()=#[]+-Xe@"), min_size=1, max_size=12))
def test_fuzz_cgmap_smiles_only_user_errors(smiles):
    from sciml_cgmap import md

    parse = getattr(md, "molecule_from_smiles", None) or getattr(md, "mol_from_smiles", None)
    if parse is None:
        pytest.skip("cgmap exposes no SMILES parser function")
    try:
        parse(smiles)
    except UserError:
        pass
