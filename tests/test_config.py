import pytest
from sciml.components import Pipeline
from sciml.config import (
    config_hash,
    flatten,
    parse_sets,
    parse_space,
    parse_value,
    resolve_config,
    validate_space,
)
from sciml.errors import UserError
from sciml.registry import get_registry


@pytest.fixture
def toy():
    reg = get_registry()
    return reg, reg.pipeline("toy")


def resolve(toy, sets=(), config_file=None):
    reg, pipe = toy
    return resolve_config(pipe, reg, pipeline_key="toy:default", sets=parse_sets(sets), config_file=config_file)


@pytest.mark.parametrize("text,value", [("3", 3), ("1e-3", 1e-3), ("0.5", 0.5), ("true", True),
                                        ("[2, 3]", [2, 3]), ("CCO", "CCO"), ("null", None)])
def test_parse_value(text, value):
    assert parse_value(text) == value


def test_defaults_then_pipeline_then_sets(toy):
    cfg = resolve(toy)
    assert cfg["trainer"]["max_epochs"] == 3          # pipeline default beats the trainer's 50
    assert cfg["trainer"]["optimizer"] == "adam"      # component default
    cfg = resolve(toy, ["trainer.max_epochs=7", "model.hidden=5", "seed=11"])
    assert (cfg["trainer"]["max_epochs"], cfg["model"]["hidden"], cfg["seed"]) == (7, 5, 11)


def test_yaml_file_below_sets(toy, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  hidden: 6\ntrainer:\n  lr: 0.5\n")
    cfg = resolve(toy, ["trainer.lr=0.25"], config_file=path)
    assert cfg["model"]["hidden"] == 6 and cfg["trainer"]["lr"] == 0.25


def test_unknown_key_names_closest(toy):
    with pytest.raises(UserError, match=r"unknown config key 'model.hiden'.*Did you mean 'model.hidden'"):
        resolve(toy, ["model.hiden=3"])
    with pytest.raises(UserError, match=r"unknown config key 'modle.hidden'.*Did you mean 'model'"):
        resolve(toy, ["modle.hidden=3"])


def test_invalid_values_are_named(toy):
    with pytest.raises(UserError, match=r"invalid value for 'trainer.lr' \('abc'\)"):
        resolve(toy, ["trainer.lr=abc"])
    with pytest.raises(UserError, match=r"'dataset.n'.*greater than or equal to 10"):
        resolve(toy, ["dataset.n=3"])
    with pytest.raises(UserError, match="seed"):
        resolve(toy, ["seed=-1"])
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_sets(["trainer.lr"])


def test_missing_or_bad_config_file(toy, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        resolve(toy, config_file=tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(UserError, match="must hold a mapping"):
        resolve(toy, config_file=bad)


def test_switching_component_drops_its_pipeline_defaults(toy):
    reg, _ = toy
    pipe = Pipeline(name="x", dataset="toy:linear", model="toy:mlp", evaluator="toy:mse",
                    defaults={"trainer": {"max_epochs": 3}, "model": {"hidden": 5}})
    cfg = resolve_config(pipe, reg, pipeline_key="toy:x", sets=[("trainer", "sciml:default"), ("model", "toy:mlp")])
    assert cfg["trainer"]["max_epochs"] == 3 and cfg["model"]["hidden"] == 5  # same components: kept
    cfg = resolve_config(pipe, reg, pipeline_key="toy:x", sets=[("model", "toy:mlp2")])
    assert cfg["model"] == {**cfg["model"], "name": "toy:mlp2", "hidden": 8}  # the class default again
    cfg = resolve_config(pipe, reg, pipeline_key="toy:x", sets=[("model", "toy:mlp2"), ("model.hidden", 4)])
    assert cfg["model"]["hidden"] == 4
    with pytest.raises(UserError, match=r"unknown trainer 'toy:nope'.*Known: .*sciml:default"):
        resolve_config(pipe, reg, pipeline_key="toy:x", sets=[("trainer", "toy:nope")])


def test_config_hash_ignores_seed_only(toy):
    a, b = resolve(toy, ["seed=1"]), resolve(toy, ["seed=2"])
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(resolve(toy, ["seed=1", "model.hidden=9"]))


@pytest.mark.parametrize("spec,expected", [
    ("loguniform(1e-4, 1e-2)", ("loguniform", [1e-4, 1e-2])),
    ("choice(2, 3)", ("choice", [2, 3])),
    ("choice('rec', 'force')", ("choice", ["rec", "force"])),
    ([1, 2], ("choice", [1, 2])),
    ({"uniform": [0, 1]}, ("uniform", [0, 1])),
])
def test_parse_space(spec, expected):
    assert parse_space(spec) == expected


@pytest.mark.parametrize("spec,msg", [("normal(0, 1)", "unknown function 'normal'"),
                                      ("uniform(1, 0)", "lo < hi"), ("loguniform(0, 1)", "lo > 0"),
                                      ("choice()", "at least one"), ("choice(a b)", "quoted strings"),
                                      ("lr", "expected one of")])
def test_parse_space_errors(spec, msg):
    with pytest.raises(UserError, match=msg):
        parse_space(spec)


def test_validate_space_checks_keys(toy):
    cfg = resolve(toy)
    assert validate_space({"trainer.lr": "uniform(0.1, 0.2)"}, cfg)["trainer.lr"][0] == "uniform"
    with pytest.raises(UserError, match="'trainer.lrr' is not a config key.*'trainer.lr'"):
        validate_space({"trainer.lrr": "uniform(0.1, 0.2)"}, cfg)


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}


def test_sample_space_is_deterministic_and_crosses_grid():
    from sciml.config import sample_space

    parsed = {"trainer.lr": ("loguniform", [1e-4, 1e-2]), "model.hidden": ("choice", [4, 8]),
              "model.fail_at_epoch": ("grid", [-1, 1])}
    a, b = sample_space(parsed, 3, seed=7), sample_space(parsed, 3, seed=7)
    assert a == b and len(a) == 6
    assert [s["model.fail_at_epoch"] for s in a] == [-1, 1] * 3
    assert all(1e-4 <= s["trainer.lr"] <= 1e-2 and s["model.hidden"] in (4, 8) for s in a)
    assert a[0]["trainer.lr"] == a[1]["trainer.lr"]  # one draw per grid combination
    assert sample_space(parsed, 3, seed=8) != a
