"""CTC configs: YAML files (the shipped ones in vcmref/ctc/configs/, package data), validated
with messages that name the file, the key and what was expected; `--set key.path=value`
overrides; `${shared}`, `${repo}` and `${env:X}` expand in strings.

`load_config` refuses a config that is not as documented before anything runs: every codec's
`params` (and the anchor codec's `codec_options`), `rate_parameter` and `points` are checked
against what the codec kind declares (vcmref.ctc.codecs: names, types, ranges, choices), the
task's `split` against the split points the task model declares, and `${env:X}` against the
environment. `check_inputs` (called by the runner before it creates the run directory) checks
that the dataset and the model files are there.

Every kind a config names is looked up in the registries of `vcmref.registry`: the dataset
kind (``dataset.kind``), the task kind (``task.kind``), the metrics and the codec kinds; the
keys of a section beyond the harness's own are the kind's, checked against the parameters it
declares. ``plugins`` (Python files or module names) are imported first: they may register
more kinds."""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vcmref.assets import REPO_ROOT, package_folder, shared_dir
from vcmref.errors import VcmrefError
from vcmref.params import ParamError, check_settings, defaults, kind_name
from vcmref.registry import CODECS, DATASETS, METRICS, TASKS, PluginError, load_plugin

TOP_KEYS = ("name", "description", "plugins", "dataset", "task", "metrics", "anchor", "references",
            "codecs", "loss")
DATASET_KEYS = ("kind", "count", "ids", "classes")  # the rest are the dataset kind's own
TASK_KEYS = ("kind", "model", "split", "ground_truth", "pseudo_score_threshold")  # and own
DEFAULT_TASK = "yolox-nano"
CONFIGS_DIR = package_folder("vcmref.ctc", "configs")  # the shipped configs, by name
_VAR = re.compile(r"\$\{(shared|repo|env:[A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(VcmrefError):
    """A config that is not as documented: names the file, the key and what was expected."""


@dataclass
class DatasetConfig:
    """The dataset section: the harness's keys, and the kind's own keys in `params` (with
    their defaults; the common ones are also attributes)."""

    kind: str
    images: str | None = None
    annotations: str | None = None
    count: int | None = None
    ids: list[Any] | None = None
    names: list[str] | None = None  # skimage: which sample images
    classes: dict[str, list[str]] | None = None  # CTC class -> item names
    videos: list[str] | None = None  # video: the sequences (mp4, y4m)
    frames: int | None = None  # video: code the first N frames of each sequence
    params: dict[str, Any] = field(default_factory=dict)  # the kind's own keys


@dataclass
class TaskConfig:
    """The task section: the registered task kind, its own keys (`params`, defaults filled
    in), the split point and the ground truth."""

    kind: str = DEFAULT_TASK
    params: dict[str, Any] = field(default_factory=dict)
    split: str | None = None  # None: remote inference on decoded images
    ground_truth: str = "annotations"  # or "pseudo"
    pseudo_score_threshold: float = 0.5

    @property
    def model(self) -> str:
        """The task kind (``task.model`` is the former name of ``task.kind``)."""
        return self.kind

    @property
    def model_path(self) -> str | None:
        return self.params.get("model_path")

    @property
    def sha256(self) -> str | None:
        return self.params.get("sha256")


@dataclass
class CodecConfig:
    name: str
    kind: str
    rate_parameter: str
    points: list[Any]
    params: dict[str, Any] = field(default_factory=dict)
    points_per_item: dict[str, list[Any]] = field(default_factory=dict)
    # Target bitrates (bpp): the points are found per item by the rate-point search
    # (vcmref.ctc.search) before the run; until then `points` is empty.
    target_bpp: list[float] = field(default_factory=list)

    def item_points(self, item_name: str) -> list[Any]:
        return self.points_per_item.get(item_name, self.points)


@dataclass
class CtcConfig:
    name: str
    description: str
    dataset: DatasetConfig
    task: TaskConfig | None
    metrics: list[str]
    anchor: str
    codecs: dict[str, CodecConfig]
    source: str = "<config>"
    raw: dict[str, Any] = field(default_factory=dict)  # the resolved document
    # further codecs the report's BD-rate table compares every other codec against
    references: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.raw, sort_keys=False)


def _expand(value: Any, source: str = "<config>", key: str = "") -> Any:
    """Expand ${shared}, ${repo} and ${env:X} in every string; an unset X is refused."""
    if isinstance(value, str):
        def sub(m: re.Match) -> str:
            name = m.group(1)
            if name == "shared":
                return str(shared_dir())
            if name == "repo":
                return str(REPO_ROOT)
            var = name[4:]
            if var not in os.environ:
                raise ConfigError(f"{source}: {key or '(top level)'}: expected the environment "
                                  f"variable {var} to be set (for ${{env:{var}}})")
            return os.environ[var]
        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [_expand(v, source, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _expand(v, source, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    return value


def apply_override(doc: dict[str, Any], assignment: str, source: str) -> None:
    """Apply `key.path=value` (the value parsed as YAML) to the document."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{source}: override {assignment!r}: expected KEY.PATH=VALUE")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: override {assignment!r}: value is not YAML ({e})") from None
    parts = key.strip().split(".")
    node = doc
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node.get(part), dict):
            if part in node:
                raise ConfigError(f"{source}: override {key}: {'.'.join(parts[:i + 1])} is not "
                                  "a mapping")
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, expected: str, got: Any = None) -> ConfigError:
        found = "" if got is None else f", got {got!r}"
        return ConfigError(f"{self.source}: {key}: expected {expected}{found}")

    def mapping(self, doc: Any, key: str) -> dict[str, Any]:
        if not isinstance(doc, dict):
            raise self.fail(key, "a mapping", doc)
        return doc

    def get(self, doc: dict, key: str, path: str, kind: type | tuple, required: bool = True,
            default: Any = None) -> Any:
        if key not in doc or doc[key] is None:
            if required:
                raise self.fail(f"{path}{key}", f"a value ({kind_name(kind)})")
            return default
        value = doc[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(f"{path}{key}", kind_name(kind), value)
        if not isinstance(value, kind):
            raise self.fail(f"{path}{key}", kind_name(kind), value)
        return value

    def unknown(self, doc: dict, allowed: tuple[str, ...], path: str) -> None:
        extra = sorted(set(doc) - set(allowed))
        if extra:
            raise ConfigError(f"{self.source}: {path}{extra[0]}: unknown key; expected one of "
                              f"{', '.join(allowed)}")


def _own_settings(c: _Checker, cls: Any, values: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A kind's own keys: the required ones given, each as declared (vcmref.params), and the
    kind's own further checks; returns them with the defaults filled in."""
    declared = {p.name: p for p in cls.parameters}
    for key in cls.required:
        if values.get(key) is None:
            raise c.fail(f"{prefix}{key}", f"a value ({kind_name(declared[key].type)})")
    try:
        settings = check_settings(cls.parameters, values, prefix)
        cls.validate(settings, prefix)
    except ParamError as e:
        raise ConfigError(f"{c.source}: {e}") from None
    return settings


def _load_plugins(c: _Checker, doc: dict[str, Any]) -> None:
    plugins = c.get(doc, "plugins", "", list, False, [])
    for i, plugin in enumerate(plugins):
        if not isinstance(plugin, str) or not plugin:
            raise c.fail(f"plugins[{i}]", "a Python file (.py) or a module name", plugin)
        try:
            load_plugin(plugin)
        except (PluginError, VcmrefError) as e:
            raise ConfigError(f"{c.source}: plugins[{i}]: {e}") from None


def _parse_dataset(c: _Checker, ds: dict[str, Any]) -> DatasetConfig:
    kind = c.get(ds, "kind", "dataset.", str)
    if kind not in DATASETS:
        raise c.fail("dataset.kind", f"one of {', '.join(DATASETS.names())}", kind)
    cls = DATASETS.get(kind)
    c.unknown(ds, DATASET_KEYS + tuple(p.name for p in cls.parameters), "dataset.")
    own = _own_settings(c, cls, {k: v for k, v in ds.items() if k not in DATASET_KEYS},
                        "dataset.")
    dataset = DatasetConfig(kind, own.get("images"), own.get("annotations"),
                            c.get(ds, "count", "dataset.", int, False),
                            c.get(ds, "ids", "dataset.", list, False), own.get("names"),
                            videos=own.get("videos"), frames=own.get("frames"), params=own)
    if dataset.count is not None and dataset.count < 1:
        raise c.fail("dataset.count", "an integer >= 1", dataset.count)
    classes = c.get(ds, "classes", "dataset.", dict, False)
    if classes is not None:
        seen: dict[str, str] = {}
        for cls_name, names in classes.items():
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise c.fail(f"dataset.classes.{cls_name}", "a list of item names", names)
            for n in names:
                if n in seen:
                    raise c.fail(f"dataset.classes.{cls_name}", f"item names in one class only "
                                 f"({n!r} is also in {seen[n]!r})")
                seen[n] = str(cls_name)
        dataset.classes = {str(k): list(v) for k, v in classes.items()}
    return dataset


def _parse_task(c: _Checker, t: dict[str, Any], dataset: DatasetConfig) -> TaskConfig:
    kind_key = "kind" if t.get("kind") is not None else "model"
    kind = c.get(t, kind_key, "task.", str, False, DEFAULT_TASK)
    if t.get("model") is not None and t.get("kind") is not None and t["model"] != t["kind"]:
        raise c.fail("task.model", f"no value, or the same as task.kind ({t['kind']!r}): model "
                     "is the former name of kind", t["model"])
    if kind not in TASKS:
        raise c.fail(f"task.{kind_key}", f"one of {', '.join(TASKS.names())} (a registered "
                     "task kind; plugins may add more)", kind)
    cls = TASKS.get(kind)
    c.unknown(t, TASK_KEYS + tuple(p.name for p in cls.parameters), "task.")
    own = _own_settings(c, cls, {k: v for k, v in t.items() if k not in TASK_KEYS}, "task.")
    task = TaskConfig(kind, own, c.get(t, "split", "task.", str, False),
                      c.get(t, "ground_truth", "task.", str, False, "annotations"),
                      float(c.get(t, "pseudo_score_threshold", "task.", (int, float), False,
                                  0.5)))
    splits = cls.split_names(own)
    if task.split is not None and task.split not in splits:
        raise c.fail("task.split", f"one of {', '.join(splits) or '(none declared)'} (the split "
                     f"points of {kind}), or no split for inference on decoded images",
                     task.split)
    if task.ground_truth not in ("annotations", "pseudo"):
        raise c.fail("task.ground_truth", "annotations or pseudo", task.ground_truth)
    if task.ground_truth == "annotations" and not DATASETS.get(dataset.kind).annotated:
        raise c.fail("task.ground_truth", "pseudo for a dataset without annotations",
                     task.ground_truth)
    return task


def _duplicate(values: list[Any]) -> Any:
    seen: list[Any] = []
    for v in values:
        if v in seen:
            return v
        seen.append(v)
    return None


def _check_codec(c: _Checker, cls: Any, path: str, rate: str, points: list[Any],
                 params: dict[str, Any], per_item: dict[str, Any], searched: bool = False) -> None:
    """params, rate_parameter and points against what the codec kind declares."""
    rates = {p.name: p for p in cls.rate_parameters}
    if rate not in rates:
        raise c.fail(f"{path}rate_parameter", f"one of {', '.join(rates)}", rate)
    if rate in params:
        raise c.fail(f"{path}params.{rate}", f"no value: {rate} is the rate parameter, set by "
                     "the points", params[rate])
    try:
        settings = check_settings(cls.parameters, params, f"{path}params.")
        validate = getattr(cls, "validate", None)
        if validate is not None:
            validate(settings, f"{path}params.")
        spec = rates[rate]
        unmet = spec.unmet(settings)
        if unmet:
            other, needed, actual = unmet
            fit = [p.name for p in cls.rate_parameters if not p.unmet(settings)]
            raise ParamError(f"{path}rate_parameter", f"expected {' or '.join(fit) or 'none'} "
                             f"(params.{other} is {actual!r}; {rate} needs params.{other} "
                             f"{needed}), got {rate!r}")
        for i, point in enumerate(points):
            spec.check(point, settings, f"{path}points[{i}]")
        for item, plist in per_item.items():
            for i, point in enumerate(plist):
                spec.check(point, settings, f"{path}points_per_item.{item}[{i}]")
    except ParamError as e:
        raise ConfigError(f"{c.source}: {e}") from None
    twice = _duplicate(points)
    if twice is not None and not searched:  # a search may find one point for two targets
        raise c.fail(f"{path}points", f"distinct rate points ({twice!r} is given twice)")


def parse_config(doc: Any, source: str = "<config>") -> CtcConfig:
    """Validate a loaded document into a CtcConfig."""
    c = _Checker(source)
    doc = c.mapping(doc, "(top level)")
    c.unknown(doc, TOP_KEYS, "")
    name = c.get(doc, "name", "", str)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise c.fail("name", "letters, digits, '_', '.', '-' only", name)
    _load_plugins(c, doc)
    dataset = _parse_dataset(c, c.mapping(c.get(doc, "dataset", "", dict), "dataset"))
    task = None
    if doc.get("task") is not None:
        task = _parse_task(c, c.mapping(doc["task"], "task"), dataset)
    metrics = c.get(doc, "metrics", "", list)
    for i, m in enumerate(metrics):
        if m not in METRICS:
            raise c.fail(f"metrics[{i}]", f"one of {', '.join(METRICS.names())}", m)
        wanted = METRICS.get(m).task_output
        if wanted and task is None:
            raise c.fail(f"metrics[{i}]", f"a task section for metric {m}", m)
        if wanted and TASKS.get(task.kind).prediction_kind(task.params) != wanted:
            given = TASKS.get(task.kind).prediction_kind(task.params)
            raise c.fail(f"metrics[{i}]", f"a task whose predictions are {wanted} for metric "
                         f"{m} (task kind {task.kind}, as configured, gives {given})", m)
    media = DATASETS.get(dataset.kind).media
    codecs_doc = c.mapping(c.get(doc, "codecs", "", dict), "codecs")
    if not codecs_doc:
        raise c.fail("codecs", "at least one codec")
    codecs = {}
    inputs: set[str] = set()
    for cname, cd in codecs_doc.items():
        path = f"codecs.{cname}."
        cd = c.mapping(cd, f"codecs.{cname}")
        c.unknown(cd, ("kind", "rate_parameter", "points", "params", "points_per_item",
                       "target_bpp"), path)
        ckind = c.get(cd, "kind", path, str)
        if ckind not in CODECS:
            raise c.fail(f"{path}kind", f"one of {', '.join(CODECS.names())}", ckind)
        cls = CODECS.get(ckind)
        # Feature codecs code the split tensors of pictures and of a sequence's frames alike.
        if cls.media != media and not cls.needs_split:
            fit = [k for k, v in CODECS.items() if v.media == media or v.needs_split]
            raise c.fail(f"{path}kind", f"one of {', '.join(fit)} for a {media} dataset", ckind)
        if cls.needs_split and (task is None or task.split is None):
            raise c.fail(f"{path}kind", "an image codec kind when task.split is not set "
                         "(feature codecs code split-point tensors)", ckind)
        # With task.split set, an image codec is the remote-inference route (the whole network
        # on the decoded image) beside the feature codecs; metrics apply where they can.
        inputs.add(cls.input)
        targets = c.get(cd, "target_bpp", path, list, False, [])
        if "target_bpp" in cd and (not targets or not all(
                isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t)
                and t > 0 for t in targets) or len(set(targets)) != len(targets)):
            raise c.fail(f"{path}target_bpp", "a non-empty list of distinct bitrates > 0",
                         targets)
        if targets and "target_bpp" in cd and "points" not in cd:
            points = []  # found by the search before the run
        else:
            points = c.get(cd, "points", path, list)
            if not points:
                raise c.fail(f"{path}points", "a non-empty list of rate points")
        per_item = c.get(cd, "points_per_item", path, dict, False, {})
        for item, plist in per_item.items():
            if not isinstance(plist, list) or len(plist) != len(points):
                raise c.fail(f"{path}points_per_item.{item}",
                             f"a list of {len(points)} points (as many as points)", plist)
        rate = c.get(cd, "rate_parameter", path, str)
        params = c.get(cd, "params", path, dict, False, {})
        _check_codec(c, cls, path, rate, points, params, per_item, bool(targets))
        if targets:
            if rate not in cls.searchable:
                raise c.fail(f"{path}target_bpp", f"a codec whose rate parameter can be "
                             f"searched ({' or '.join(cls.searchable) or 'none'} for kind "
                             f"{ckind})", rate)
            if points and len(points) != len(targets):
                raise c.fail(f"{path}points", f"as many points as target_bpp "
                             f"({len(targets)}): the points found for them", points)
        codecs[str(cname)] = CodecConfig(str(cname), ckind, rate, points, params, per_item,
                                         [float(t) for t in targets])
    for i, m in enumerate(metrics):
        if not any(METRICS.get(m).applies_to(kind) for kind in inputs):
            fit = [k for k, v in METRICS.items() if any(v.applies_to(x) for x in inputs)]
            kinds = " and ".join(sorted(inputs))
            raise c.fail(f"metrics[{i}]", f"one of {', '.join(fit)} for {kinds} codecs", m)
    anchor = c.get(doc, "anchor", "", str)
    if anchor not in codecs:
        raise c.fail("anchor", f"the name of one of the codecs ({', '.join(codecs)})", anchor)
    references = c.get(doc, "references", "", list, False, [])
    for k, ref in enumerate(references):
        if ref not in codecs or ref == anchor or ref in references[:k]:
            raise c.fail(f"references[{k}]", "the name of another codec than the anchor, "
                         f"listed once ({', '.join(c for c in codecs if c != anchor)})", ref)
    if doc.get("loss") is not None:  # the loss track (vcmref.ctc.loss_track)
        from vcmref.ctc.loss_track import parse_loss

        if not any(CODECS.get(cc.kind).needs_split for cc in codecs.values()):
            raise c.fail("loss", "a config with a feature codec (the loss track damages "
                         "feature streams)", "no feature codec")
        try:
            parse_loss(doc["loss"])
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None
    return CtcConfig(name, c.get(doc, "description", "", str, False, ""), dataset, task,
                     list(metrics), anchor, codecs, source, doc, [str(r) for r in references])


def load_config(path: str | Path, overrides: list[str] | None = None) -> CtcConfig:
    """Read, override, expand and validate a config file."""
    path = Path(path)
    if not path.is_file():
        builtin = CONFIGS_DIR / f"{path}.yaml"
        if builtin.is_file():
            path = builtin
        else:
            raise ConfigError(f"{path}: no such config file (nor a shipped config: "
                              f"{', '.join(sorted(p.stem for p in CONFIGS_DIR.glob('*.yaml')))})")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}".replace("\n", " ")) from None
    doc = copy.deepcopy(doc) if isinstance(doc, dict) else doc
    for assignment in overrides or []:
        if not isinstance(doc, dict):
            break
        apply_override(doc, assignment, str(path))
    return parse_config(_expand(doc, str(path)), str(path))


def needs_predictions(cfg: CtcConfig) -> bool:
    """Whether a metric of the config scores the task's predictions (mAP)."""
    return any(METRICS.get(m).task_output for m in cfg.metrics)


def _model_needed(cfg: CtcConfig) -> bool:
    return cfg.task is not None and (cfg.task.split is not None or needs_predictions(cfg))


def check_inputs(cfg: CtcConfig) -> None:
    """Refuse a config whose dataset or model files are not there, or whose anchor codec
    options the codec refuses (e.g. a missing .cfg file): called before the run directory is
    created, so that such a run leaves nothing behind."""
    try:
        DATASETS.get(cfg.dataset.kind)(cfg.dataset.params).check_inputs()
    except ParamError as e:
        raise ConfigError(f"{cfg.source}: dataset.{e}") from None
    if _model_needed(cfg):
        try:
            TASKS.get(cfg.task.kind).check_inputs(cfg.task.params)
        except ParamError as e:
            raise ConfigError(f"{cfg.source}: task.{e}") from None
    from vcmref.anchors.codec import CodecConfigError
    from vcmref.anchors.registry import get_codec

    for name, codec in cfg.codecs.items():
        cls = CODECS.get(codec.kind)
        params = {**defaults(cls.parameters), **codec.params}
        check = getattr(cls, "check_inputs", None)
        if check is not None:
            points = list(codec.points) + [p for ps in codec.points_per_item.values() for p in ps]
            try:
                check(params, points)
            except ParamError as e:
                raise ConfigError(f"{cfg.source}: codecs.{name}.params.{e}") from None
        if "codec" not in params:
            continue
        try:
            get_codec(params["codec"], **params.get("codec_options", {}))
        except CodecConfigError as e:
            raise ConfigError(f"{cfg.source}: codecs.{name}.params.codec_options: {e}") from None
