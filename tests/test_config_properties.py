"""Generated configurations: a value of the wrong type at any key never makes a traceback or prints a secret;
a configuration the validation accepts always evaluates.

Deterministic (derandomized) so that CI runs the same cases every time; the counts are in `EXAMPLES`.
"""

from __future__ import annotations

import copy
import typing
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from ops.engine import evaluate
from ops.stackfiles import raw_config, read_stack_config
from stacks.config import load, load_raw
from stacks.problems import ConfigError
from stacks.schema import SECRET_KEYS, PlatformConfig

EXAMPLES = {"wrong types": 250, "accepted configs evaluate": 8}
SECRET = "SENTINEL-S3CRET-VALUE"
LIBRARY_WORDING = ("Input should", "valid dictionary", "instance of", "valid tuple", " items", "String should",
                   "Traceback")
MAP_SAMPLES = {"nodeGroups": ["general", "gpu", "new"], "teams": ["payments"], "tags": ["team"],
               "labels": ["workload"]}


def key_paths(model: type[BaseModel] = PlatformConfig, prefix: tuple = ()) -> list[tuple]:
    """Every key a stack file can set, with sample names for map keys and index 0 for lists."""
    paths = []
    for name, field in model.model_fields.items():
        alias = field.alias or name
        here = (*prefix, alias)
        paths.append(here)
        annotation = field.annotation
        for _ in range(3):
            origin, args = typing.get_origin(annotation), typing.get_args(annotation)
            if origin is dict:
                for sample in MAP_SAMPLES.get(alias, ["x"]):
                    paths.append((*here, sample))
                    if isinstance(args[1], type) and issubclass(args[1], BaseModel):
                        paths += key_paths(args[1], (*here, sample))
                break
            if origin is tuple:
                paths.append((*here, 0))
                if isinstance(args[0], type) and issubclass(args[0], BaseModel):
                    paths += key_paths(args[0], (*here, 0))
                break
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                paths += key_paths(annotation, here)
                break
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            if not models:
                break
            annotation = models[0]
    return paths


PATHS = key_paths()
WRONG = st.one_of(
    st.integers(min_value=-10**20, max_value=10**20), st.floats(allow_nan=False), st.booleans(), st.none(),
    st.text(max_size=40), st.sampled_from(["2026-12-31", "yes", "on", "5", "5.0", "#alerts", "0.0.0.0/0"]),
    st.lists(st.one_of(st.integers(), st.text(max_size=8)), max_size=3),
    st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8), st.none()), max_size=3),
)


def set_path(config: dict, path: tuple, value: Any) -> None:
    """Put `value` at `path`, making the maps and lists on the way (replacing whatever else is there)."""
    node: Any = config
    for step, following in zip(path[:-1], path[1:]):
        wanted = list if isinstance(following, int) else dict
        if isinstance(node, list):
            while len(node) <= step:
                node.append(None)
        current = node[step] if isinstance(node, list) else node.get(step)
        if not isinstance(current, wanted):
            node[step] = wanted()
        node = node[step]
    if isinstance(node, list):
        while len(node) <= path[-1]:
            node.append(None)
    node[path[-1]] = value


BASE = {k.split(":", 1)[1]: v for k, v in read_stack_config("dev").items() if k.startswith("eks-platform:")}


def assert_clean(error: ConfigError) -> None:
    text = str(error)
    assert SECRET not in text, text
    assert not [w for w in LIBRARY_WORDING if w in text], text
    assert all(p.message for p in error.problems)


@settings(max_examples=EXAMPLES["wrong types"], derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), WRONG), min_size=1, max_size=3),
       secret_spelling=st.sampled_from([*SECRET_KEYS, "grafana_admin_password", "slack_webhook_url",
                                        "grafanaadminpassword"]),
       secret_value=st.sampled_from([SECRET, [SECRET], {"value": SECRET}, 12345]))
def test_a_wrong_value_anywhere_is_a_clean_error_that_never_shows_a_secret(changes, secret_spelling, secret_value):
    raw = copy.deepcopy(BASE)
    for path, value in changes:
        set_path(raw, path, value)
    raw[secret_spelling] = secret_value
    for attempt in (lambda: load("dev", raw, "us-east-1", secret_keys=set(SECRET_KEYS)),
                    lambda: load_raw("dev", raw_config({"aws:region": "us-east-1",
                                                        **{f"eks-platform:{k}": v for k, v in raw.items()}}))):
        try:
            attempt()
        except ConfigError as error:
            assert_clean(error)


GROUPS = st.fixed_dictionaries({
    "instanceTypes": st.sampled_from([["m7i.large"], ["m7g.large"], ["m7i.xlarge", "m6i.xlarge"]]),
    "capacityType": st.sampled_from(["ON_DEMAND", "SPOT"]),
    "minSize": st.integers(0, 3), "maxSize": st.integers(1, 6),
})
VALID_ENOUGH = st.fixed_dictionaries({}, optional={
    "kubernetesVersion": st.sampled_from(["1.33", "1.34", "1.35", "1.36"]),
    "network": st.fixed_dictionaries({"availabilityZones": st.integers(2, 3),
                                      "natGateways": st.sampled_from(["single", "perAz"])}),
    "nodeGroups": st.fixed_dictionaries({"general": GROUPS}, optional={
        "gpu": st.fixed_dictionaries({"instanceTypes": st.just(["g6.xlarge"]), "gpu": st.just(True),
                                      "minSize": st.just(0), "maxSize": st.integers(1, 4)})}),
    "ingress": st.fixed_dictionaries({"scheme": st.sampled_from(["internet-facing", "internal"])}),
    "monitoring": st.fixed_dictionaries({"prometheusRetention": st.sampled_from(["12h", "7d", "2w", "1y"]),
                                         "prometheusStorageGiB": st.integers(10, 500)}),
    "logging": st.fixed_dictionaries({"retentionDays": st.integers(1, 400)}),
    "dns": st.fixed_dictionaries({"zoneName": st.just("example.com")},
                                 optional={"subdomain": st.just("dev"), "createZone": st.booleans()}),
    "tags": st.dictionaries(st.sampled_from(["team", "costCenter", "owner"]), st.text("abc123-", max_size=10),
                            max_size=3),
    "inClusterLayer": st.booleans(),
    "ciRunner": st.none(),
})


@settings(max_examples=EXAMPLES["accepted configs evaluate"], derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(overrides=VALID_ENOUGH)
def test_every_configuration_the_validation_accepts_evaluates(overrides):
    config = copy.deepcopy(read_stack_config("dev"))
    for key, value in overrides.items():
        if value is None:
            config.pop(f"eks-platform:{key}", None)
        else:
            config[f"eks-platform:{key}"] = value
    try:
        load_raw("dev", raw_config(config))
    except ConfigError:
        return
    evaluation = evaluate("dev", config)
    assert evaluation.error is None, evaluation.error
    assert evaluation.of_type("eks:index:Cluster")
