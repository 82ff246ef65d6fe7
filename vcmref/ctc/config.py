"""CTC configs: YAML files in ctc_configs/, validated with messages that name the file, the key
and what was expected; `--set key.path=value` overrides; `${shared}`, `${repo}` and `${env:X}`
expand in strings.

`load_config` refuses a config that is not as documented before anything runs: every codec's
`params` (and the anchor codec's `codec_options`), `rate_parameter` and `points` are checked
against what the codec kind declares (vcmref.ctc.codecs: names, types, ranges, choices), the
task's `split` against the split points the task model declares, and `${env:X}` against the
environment. `check_inputs` (called by the runner before it creates the run directory) checks
that the dataset and the model files are there."""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vcmref.assets import REPO_ROOT, shared_dir
from vcmref.errors import VcmrefError
from vcmref.params import ParamError, check_settings, defaults, kind_name

DATASET_KINDS = ("coco", "folder", "skimage", "video")
METRICS = ("psnr_rgb", "psnr_y", "psnr_yuv", "ms_ssim", "feature_psnr", "map")
VIDEO_METRICS = ("psnr_y", "psnr_yuv")
_VAR = re.compile(r"\$\{(shared|repo|env:[A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(VcmrefError):
    """A config that is not as documented: names the file, the key and what was expected."""


@dataclass
class DatasetConfig:
    kind: str
    images: str | None = None
    annotations: str | None = None
    count: int | None = None
    ids: list[Any] | None = None
    names: list[str] | None = None  # skimage: which sample images
    classes: dict[str, list[str]] | None = None  # CTC class -> item names
    videos: list[str] | None = None  # video: the sequences (mp4, y4m)
    frames: int | None = None  # video: code the first N frames of each sequence


@dataclass
class TaskConfig:
    model: str = "yolox-nano"
    model_path: str | None = None
    sha256: str | None = None
    split: str | None = None  # None: remote inference on decoded images
    ground_truth: str = "annotations"  # or "pseudo"
    pseudo_score_threshold: float = 0.5


@dataclass
class CodecConfig:
    name: str
    kind: str
    rate_parameter: str
    points: list[Any]
    params: dict[str, Any] = field(default_factory=dict)
    points_per_item: dict[str, list[Any]] = field(default_factory=dict)

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


def _codec_classes() -> dict[str, Any]:
    from vcmref.ctc.codecs import CODEC_CLASSES

    return CODEC_CLASSES


def _task_models() -> dict[str, Any]:
    """The task models a config may name: name -> class (with its declared split points)."""
    from vcmref.tasks.yolox import YoloxDetector

    return {YoloxDetector.name: YoloxDetector}


def _duplicate(values: list[Any]) -> Any:
    seen: list[Any] = []
    for v in values:
        if v in seen:
            return v
        seen.append(v)
    return None


def _check_codec(c: _Checker, cls: Any, path: str, rate: str, points: list[Any],
                 params: dict[str, Any], per_item: dict[str, Any]) -> None:
    """params, rate_parameter and points against what the codec kind declares."""
    rates = {p.name: p for p in cls.rate_parameters}
    if rate not in rates:
        raise c.fail(f"{path}rate_parameter", f"one of {', '.join(rates)}", rate)
    if rate in params:
        raise c.fail(f"{path}params.{rate}", f"no value: {rate} is the rate parameter, set by "
                     "the points", params[rate])
    try:
        settings = check_settings(cls.parameters, params, f"{path}params.")
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
    if twice is not None:
        raise c.fail(f"{path}points", f"distinct rate points ({twice!r} is given twice)")


def parse_config(doc: Any, source: str = "<config>") -> CtcConfig:
    """Validate a loaded document into a CtcConfig."""
    c = _Checker(source)
    doc = c.mapping(doc, "(top level)")
    c.unknown(doc, ("name", "description", "dataset", "task", "metrics", "anchor", "codecs"), "")
    name = c.get(doc, "name", "", str)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise c.fail("name", "letters, digits, '_', '.', '-' only", name)
    ds = c.mapping(c.get(doc, "dataset", "", dict), "dataset")
    c.unknown(ds, ("kind", "images", "annotations", "count", "ids", "names", "classes",
                   "videos", "frames"), "dataset.")
    kind = c.get(ds, "kind", "dataset.", str)
    if kind not in DATASET_KINDS:
        raise c.fail("dataset.kind", f"one of {', '.join(DATASET_KINDS)}", kind)
    dataset = DatasetConfig(kind, c.get(ds, "images", "dataset.", str,
                                        kind not in ("skimage", "video")),
                            c.get(ds, "annotations", "dataset.", str, kind == "coco"),
                            c.get(ds, "count", "dataset.", int, False),
                            c.get(ds, "ids", "dataset.", list, False),
                            c.get(ds, "names", "dataset.", list, False))
    dataset.videos = c.get(ds, "videos", "dataset.", list, kind == "video")
    dataset.frames = c.get(ds, "frames", "dataset.", int, False)
    if dataset.frames is not None and dataset.frames < 1:
        raise c.fail("dataset.frames", "an integer >= 1", dataset.frames)
    if dataset.count is not None and dataset.count < 1:
        raise c.fail("dataset.count", "an integer >= 1", dataset.count)
    classes = c.get(ds, "classes", "dataset.", dict, False)
    if classes is not None:
        seen: dict[str, str] = {}
        for cls, names in classes.items():
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise c.fail(f"dataset.classes.{cls}", "a list of item names", names)
            for n in names:
                if n in seen:
                    raise c.fail(f"dataset.classes.{cls}", f"item names in one class only "
                                 f"({n!r} is also in {seen[n]!r})")
                seen[n] = str(cls)
        dataset.classes = {str(k): list(v) for k, v in classes.items()}
    task = None
    if doc.get("task") is not None:
        t = c.mapping(doc["task"], "task")
        c.unknown(t, ("model", "model_path", "sha256", "split", "ground_truth",
                      "pseudo_score_threshold"), "task.")
        task = TaskConfig(c.get(t, "model", "task.", str, False, "yolox-nano"),
                          c.get(t, "model_path", "task.", str, False),
                          c.get(t, "sha256", "task.", str, False),
                          c.get(t, "split", "task.", str, False),
                          c.get(t, "ground_truth", "task.", str, False, "annotations"),
                          float(c.get(t, "pseudo_score_threshold", "task.", (int, float), False,
                                      0.5)))
        models = _task_models()
        if task.model not in models:
            raise c.fail("task.model", f"{' or '.join(models)} (the reference detector)",
                         task.model)
        splits = models[task.model].split_points
        if task.split is not None and task.split not in splits:
            raise c.fail("task.split", f"one of {', '.join(splits)} (the split points of "
                         f"{task.model}), or no split for inference on decoded images",
                         task.split)
        if task.ground_truth not in ("annotations", "pseudo"):
            raise c.fail("task.ground_truth", "annotations or pseudo", task.ground_truth)
        if task.ground_truth == "annotations" and dataset.kind != "coco":
            raise c.fail("task.ground_truth", "pseudo for a dataset without annotations",
                         task.ground_truth)
    metrics = c.get(doc, "metrics", "", list)
    for i, m in enumerate(metrics):
        if m not in METRICS:
            raise c.fail(f"metrics[{i}]", f"one of {', '.join(METRICS)}", m)
        if m == "map" and task is None:
            raise c.fail(f"metrics[{i}]", "a task section for metric map", m)
        if kind == "video" and m not in VIDEO_METRICS:
            raise c.fail(f"metrics[{i}]", f"one of {', '.join(VIDEO_METRICS)} for a video "
                         "dataset", m)
        if kind != "video" and m == "psnr_yuv":
            raise c.fail(f"metrics[{i}]", "psnr_yuv with a video dataset only", m)
    codecs_doc = c.mapping(c.get(doc, "codecs", "", dict), "codecs")
    if not codecs_doc:
        raise c.fail("codecs", "at least one codec")
    codecs = {}
    for cname, cd in codecs_doc.items():
        path = f"codecs.{cname}."
        cd = c.mapping(cd, f"codecs.{cname}")
        c.unknown(cd, ("kind", "rate_parameter", "points", "params", "points_per_item"), path)
        ckind = c.get(cd, "kind", path, str)
        classes = _codec_classes()
        if ckind not in classes:
            raise c.fail(f"{path}kind", f"one of {', '.join(classes)}", ckind)
        cls = classes[ckind]
        if (cls.input == "video") != (dataset.kind == "video"):
            video = [k for k, v in classes.items() if v.input == "video"]
            raise c.fail(f"{path}kind", f"{' or '.join(video)} for a video dataset, and only "
                         "then", ckind)
        split_needed = cls.input == "features"
        if split_needed and (task is None or task.split is None):
            raise c.fail(f"{path}kind", "an image codec kind when task.split is not set "
                         "(feature codecs code split-point tensors)", ckind)
        if not split_needed and task is not None and task.split is not None:
            raise c.fail(f"{path}kind", "a feature codec kind when task.split is set", ckind)
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
        _check_codec(c, cls, path, rate, points, params, per_item)
        codecs[str(cname)] = CodecConfig(str(cname), ckind, rate, points, params, per_item)
    anchor = c.get(doc, "anchor", "", str)
    if anchor not in codecs:
        raise c.fail("anchor", f"the name of one of the codecs ({', '.join(codecs)})", anchor)
    return CtcConfig(name, c.get(doc, "description", "", str, False, ""), dataset, task,
                     list(metrics), anchor, codecs, source, doc)


def load_config(path: str | Path, overrides: list[str] | None = None) -> CtcConfig:
    """Read, override, expand and validate a config file."""
    path = Path(path)
    if not path.is_file():
        builtin = REPO_ROOT / "ctc_configs" / f"{path}.yaml"
        if builtin.is_file():
            path = builtin
        else:
            raise ConfigError(f"{path}: no such config file (nor ctc_configs/{path.name}.yaml)")
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


def _model_needed(cfg: CtcConfig) -> bool:
    return cfg.task is not None and (cfg.task.split is not None or "map" in cfg.metrics)


def check_inputs(cfg: CtcConfig) -> None:
    """Refuse a config whose dataset or model files are not there, or whose anchor codec
    options the codec refuses (e.g. a missing .cfg file): called before the run directory is
    created, so that such a run leaves nothing behind."""
    ds = cfg.dataset

    def missing(key: str, what: str, path: str | None) -> ConfigError:
        return ConfigError(f"{cfg.source}: {key}: expected {what}, got {path!r} (not there)")

    if ds.kind in ("coco", "folder") and not Path(ds.images or "").is_dir():
        raise missing("dataset.images", "a folder of images", ds.images)
    if ds.kind == "coco" and not Path(ds.annotations or "").is_file():
        raise missing("dataset.annotations", "a COCO annotations file", ds.annotations)
    for k, video in enumerate(ds.videos or []):
        if not Path(video).is_file():
            raise missing(f"dataset.videos[{k}]", "a video file (mp4, y4m)", video)
    if ds.kind == "skimage":
        import skimage.data

        for k, name in enumerate(ds.names or []):
            if not callable(getattr(skimage.data, str(name), None)):
                raise ConfigError(f"{cfg.source}: dataset.names[{k}]: expected a scikit-image "
                                  f"sample image (skimage.data), got {name!r}")
    if _model_needed(cfg):
        model = cfg.task.model_path
        if model is None:
            from vcmref.tasks.yolox import default_model_path

            default = default_model_path()
            if not default.is_file():
                raise ConfigError(f"{cfg.source}: task.model_path: expected the model file; "
                                  f"not set, and the default {default} is not there")
        elif not Path(model).is_file():
            raise missing("task.model_path", "the model file", model)
    from vcmref.anchors.codec import CodecConfigError, get_codec

    for name, codec in cfg.codecs.items():
        params = {**defaults(_codec_classes()[codec.kind].parameters), **codec.params}
        if "codec" not in params:
            continue
        try:
            get_codec(params["codec"], **params.get("codec_options", {}))
        except CodecConfigError as e:
            raise ConfigError(f"{cfg.source}: codecs.{name}.params.codec_options: {e}") from None
