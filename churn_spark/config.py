"""Pipeline configuration: defaults, environment overlays and command-line overrides.

``conf/pipeline.yaml`` is both the defaults and the schema: every key a run may set is
listed there with a default whose type is the key's type. Overlays (``conf/local.yaml``,
``conf/cluster.yaml``, ...) and ``--conf section.key=value`` overrides are merged on top
in that order. A key that the defaults do not list, or a value of another type, fails at
start-up with the key named. A mapping whose default is ``{}`` (e.g. ``spark.conf``) is
free-form: any string key with a scalar value.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

CONF_ENV = "CHURN_SPARK_CONF_DIR"


class ConfigError(ValueError):
    """Invalid configuration; the message names the offending key."""


def default_conf_dir() -> Path:
    """The folder holding ``pipeline.yaml``.

    ``$CHURN_SPARK_CONF_DIR`` if set, else the repository's ``conf/`` (a source checkout),
    else the copy packaged in the wheel as ``churn_spark/conf`` (an installed package).
    """
    if os.environ.get(CONF_ENV):
        return Path(os.environ[CONF_ENV]).resolve()
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "conf", here / "conf"):
        if (candidate / "pipeline.yaml").exists():
            return candidate
    raise ConfigError(f"no pipeline.yaml found: set {CONF_ENV} to the folder holding it")


class Config:
    """A read-only view of a merged configuration with attribute access per section.

    >>> cfg.text.min_term_count   # a value
    >>> cfg["text.min_term_count"]  # the same, by dotted key
    """

    def __init__(self, data: Mapping[str, Any], conf_dir: Path, prefix: str = ""):
        self._data = data
        self._conf_dir = conf_dir
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            value = self._data[name]
        except KeyError:
            raise AttributeError(f"no configuration key {self._prefix}{name}") from None
        if isinstance(value, Mapping) and value:
            sub = f"{self._prefix}{name}."
            if not _is_free_form(self._default_at(sub.rstrip("."))):
                return Config(value, self._conf_dir, sub)
        return value

    def __getitem__(self, dotted: str) -> Any:
        node: Any = self
        for part in dotted.split("."):
            node = getattr(node, part) if isinstance(node, Config) else node[part]
        return node

    def _default_at(self, dotted: str) -> Any:
        node: Any = _defaults(self._conf_dir)
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        return node

    @property
    def conf_dir(self) -> Path:
        return self._conf_dir

    def path(self, dotted: str) -> str:
        """A path-valued key resolved against the conf folder when relative."""
        value = str(self[dotted])
        if not value or "://" in value or os.path.isabs(value):
            return value
        return str((self._conf_dir / value).resolve())

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self._data))

    def __repr__(self) -> str:
        return f"Config({self._prefix or 'root'}: {sorted(self._data)})"


_DEFAULTS_CACHE: dict[Path, dict[str, Any]] = {}


def _defaults(conf_dir: Path) -> dict[str, Any]:
    if conf_dir not in _DEFAULTS_CACHE:
        _DEFAULTS_CACHE[conf_dir] = _read_yaml(conf_dir / "pipeline.yaml")
    return _DEFAULTS_CACHE[conf_dir]


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"configuration file not found: {path}")
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _is_free_form(default: Any) -> bool:
    return isinstance(default, Mapping) and not default


def _check_type(key: str, default: Any, value: Any) -> Any:
    """Return ``value`` coerced to the type of ``default`` or raise naming ``key``."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, list):
        if isinstance(value, list):
            if default:
                return [_check_type(f"{key}[{i}]", default[0], v) for i, v in enumerate(value)]
            return value
    elif _is_free_form(default):
        if isinstance(value, Mapping):
            for k, v in value.items():
                if not isinstance(k, str) or isinstance(v, (Mapping, list)):
                    raise ConfigError(f"{key}.{k}: expected a scalar setting")
            return {k: str(v) if isinstance(v, bool) else v for k, v in value.items()}
    expected = type(default).__name__ if default is not None else "null"
    raise ConfigError(f"{key}: expected {expected}, got {type(value).__name__} ({value!r})")


def _merge(base: dict[str, Any], layer: Mapping[str, Any], defaults: Mapping[str, Any], where: str,
           prefix: str = "") -> None:
    for name, value in layer.items():
        key = f"{prefix}{name}"
        if name not in defaults:
            raise ConfigError(f"unknown configuration key {key!r} (in {where})")
        default = defaults[name]
        if isinstance(default, Mapping) and default:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}: expected a section, got {value!r} (in {where})")
            _merge(base[name], value, default, where, f"{key}.")
        elif _is_free_form(default):
            base[name] = {**base[name], **_check_type(key, default, value)}
        else:
            try:
                base[name] = _check_type(key, default, value)
            except ConfigError as err:
                raise ConfigError(f"{err} (in {where})") from None


def _parse_override(item: str) -> dict[str, Any]:
    if "=" not in item:
        raise ConfigError(f"--conf expects key=value, got {item!r}")
    dotted, raw = item.split("=", 1)
    value = yaml.safe_load(raw) if raw.strip() else ""
    node: dict[str, Any] = {}
    parts = dotted.strip().split(".")
    # spark.conf keys contain dots themselves: everything after "spark.conf." is one key
    if parts[:2] == ["spark", "conf"] and len(parts) > 2:
        parts = ["spark", "conf", ".".join(parts[2:])]
    cursor = node
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return node


def load_config(overlays: Iterable[str] = (), overrides: Iterable[str] = (),
                conf_dir: str | Path | None = None) -> Config:
    """Merge ``pipeline.yaml`` with overlay files and ``key=value`` overrides, validating each.

    An overlay is a path, or a bare name looked up in the conf folder (``local`` ->
    ``conf/local.yaml``).
    """
    folder = Path(conf_dir).resolve() if conf_dir else default_conf_dir()
    defaults = _defaults(folder)
    data = copy.deepcopy(defaults)
    for overlay in overlays:
        path = Path(overlay)
        if not path.suffix:
            path = folder / f"{overlay}.yaml"
        _merge(data, _read_yaml(path), defaults, str(path))
    for item in overrides:
        _merge(data, _parse_override(item), defaults, f"--conf {item}")
    return Config(data, folder)
