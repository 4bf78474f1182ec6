"""Reading configuration files, shared by every component: `${env:VAR}` / `${env:VAR:-default}`
substituted first (as the OpenTelemetry Collector does), then sections read key by key, where an
unknown key or a bad value is an error naming its full key path. Sizes take bytes or `64MiB`;
durations take seconds or `100ms` / `5s` / `2m`. TLS and SASL sections read the same everywhere.

A flat section is described once, by its frozen dataclass: each field is a key, its default is the
key's default, and its type says how it is read (`bool`, `int`, `float` as a duration, `str`,
`Literal[...]` as a closed set, `tuple[str, ...]`, `SaslConfig` / `TlsConfig`, a nested dataclass as a
subsection); `field(metadata=SIZE)` reads `64MiB`, `ENDPOINT` a host:port, `INTERNAL` marks a field that
is not a key. `read_section` reads such a section and `section_keys` lists its keys."""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

# `${env:VAR}`, and `${VAR}` as the OpenTelemetry Collector also expands it; either with `:-default`
_ENV = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "KB": 1000, "MB": 1000**2, "GB": 1000**3}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SIZE: Mapping[str, Any] = {"read": "size"}  # bytes, or 64MiB / 1GB
ENDPOINT: Mapping[str, Any] = {"read": "endpoint"}  # host:port; '' turns an optional one off
INTERNAL: Mapping[str, Any] = {"key": False}  # set by the code, not by a key


def at_least(minimum: int) -> Mapping[str, Any]:
    return {"minimum": minimum}


T = TypeVar("T")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key path."""


@dataclass(frozen=True)
class TlsConfig:
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None


@dataclass(frozen=True)
class SaslConfig:
    mechanism: str = "PLAIN"
    username: str = ""
    password: str = field(default="", repr=False)


def substitute_env(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Replace `${env:VAR}` / `${env:VAR:-default}` (or `${VAR}` / `${VAR:-default}`) in every string inside
    `value`."""
    env = os.environ if environ is None else environ
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env and env[name] != "":
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"environment variable {name} is not set and has no default")

        return _ENV.sub(repl, value)
    if isinstance(value, dict):
        return {k: substitute_env(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, env) for v in value]
    return value


class Section:
    """A mapping at a key path, read key by key; unknown keys are reported with their full path."""

    def __init__(self, value: Any, path: str, allowed: set[str]) -> None:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise ConfigError(f"{path}.{unknown[0]}: unknown key (allowed: {', '.join(sorted(allowed))})")
        self.value = value
        self.path = path

    def __contains__(self, key: str) -> bool:
        return key in self.value

    def key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def section(self, key: str, allowed: set[str]) -> Section:
        return Section(self.value.get(key), self.key(key), allowed)

    def text(self, key: str, default: str, choices: tuple[str, ...] = ()) -> str:
        value = self.value.get(key, default)
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{self.key(key)}: expected a string")
        value = str(value)
        if choices and value not in choices:
            raise ConfigError(f"{self.key(key)}: {value!r} is not one of {', '.join(choices)}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.value.get(key, default)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise ConfigError(f"{self.key(key)}: expected true or false")
        return value

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        value = self.value.get(key, default)
        try:
            number = int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.key(key)}: expected an integer, got {value!r}") from exc
        if isinstance(value, bool) or number < minimum:
            raise ConfigError(f"{self.key(key)}: expected an integer >= {minimum}, got {value!r}")
        return number

    def size(self, key: str, default: int) -> int:
        value = self.value.get(key, default)
        m = _SIZE.match(str(value)) if not isinstance(value, bool) else None
        if not m or int(m.group(1)) <= 0:
            raise ConfigError(f"{self.key(key)}: expected a size such as 1048576 or 64MiB, got {value!r}")
        return int(m.group(1)) * _SIZE_UNITS[m.group(2)]

    def duration(self, key: str, default: float) -> float:
        value = self.value.get(key, default)
        m = _DURATION.match(str(value)) if not isinstance(value, bool) else None
        if not m:
            raise ConfigError(f"{self.key(key)}: expected a duration such as 5s or 100ms, got {value!r}")
        return float(m.group(1)) * {None: 1.0, "s": 1.0, "ms": 0.001, "m": 60.0}[m.group(2)]

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.value.get(key, list(default))
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            raise ConfigError(f"{self.key(key)}: expected a list of strings")
        return tuple(str(v) for v in value)


def endpoint(section: Section, key: str, default: str | None) -> str | None:
    endpoint = section.text(key, default or "")
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{section.key(key)}: expected host:port, got {endpoint!r}")
    return endpoint


def tls_config(parent: Section, key: str, server: bool) -> TlsConfig | None:
    if key not in parent:
        return None
    s = parent.section(key, {"cert_file", "key_file", "ca_file"})
    tls = TlsConfig(
        cert_file=s.text("cert_file", "") or None,
        key_file=s.text("key_file", "") or None,
        ca_file=s.text("ca_file", "") or None,
    )
    if server and not (tls.cert_file and tls.key_file):
        raise ConfigError(f"{s.path}: a server needs both cert_file and key_file")
    if bool(tls.cert_file) != bool(tls.key_file):
        raise ConfigError(f"{s.path}: cert_file and key_file go together")
    for name in ("cert_file", "key_file", "ca_file"):
        path = getattr(tls, name)
        if path and not Path(path).is_file():
            raise ConfigError(f"{s.key(name)}: no such file {path!r}")
    return tls


def sasl_config(parent: Section) -> SaslConfig | None:
    """The `sasl` subsection of a Kafka client's section (collector exporter or forwarder)."""
    if "sasl" not in parent:
        return None
    s = parent.section("sasl", {"mechanism", "username", "password"})
    sasl = SaslConfig(s.text("mechanism", "PLAIN", SASL_MECHANISMS), s.text("username", ""), s.text("password", ""))
    if not sasl.username:
        raise ConfigError(f"{s.key('username')}: required with sasl")
    return sasl


def client_tls_config(parent: Section) -> TlsConfig | None:
    """The `tls` subsection of a Kafka client's section."""
    return tls_config(parent, "tls", server=False)


def read_document(path: str | Path, environ: Mapping[str, str] | None = None) -> Any:
    """The configuration file as YAML, env-substituted: the collector's and the forwarder's sections
    are read from it."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; pass --config FILE, or start from {example_config()}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return substitute_env(raw, environ)


def example_config() -> Path:
    """The shipped otel-config.yaml, as installed with the package (a copy to start from)."""
    return Path(__file__).resolve().with_name("otel-config.yaml")


def _config_fields(cls: type[Any]) -> list[Field[Any]]:
    return [f for f in fields(cls) if f.init and f.metadata.get("key", True)]


def section_keys(cls: type[Any]) -> set[str]:
    """The keys a section described by the dataclass `cls` allows."""
    return {f.name for f in _config_fields(cls)}


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    raise TypeError(f"{f.name} has no default: pass it to read_section")


def read_section(cls: type[T], s: Section, **given: Any) -> T:
    """The dataclass `cls` read from section `s`: every key by its field's type, default and metadata;
    fields named in `given` (read by the caller, or not keys) are taken as they are."""
    hints = typing.get_type_hints(cls)
    values = dict(given)
    for f in _config_fields(cls):
        if f.name not in given:
            values[f.name] = _read_value(s, f, hints[f.name])
    return cls(**values)


def _read_value(s: Section, f: Field[Any], hint: Any) -> Any:
    name, default, how = f.name, _default(f), f.metadata.get("read")
    optional = typing.get_origin(hint) in (Union, types.UnionType) and type(None) in typing.get_args(hint)
    if optional:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is SaslConfig:
        return sasl_config(s)
    if hint is TlsConfig:
        return client_tls_config(s)
    if is_dataclass(hint) and isinstance(hint, type):
        return read_section(hint, s.section(name, section_keys(hint)))
    if how == "endpoint":
        if optional and not s.text(name, default or ""):
            return None
        return endpoint(s, name, default)
    if how == "size":
        return s.size(name, default)
    if hint is bool:
        return s.flag(name, default)
    if hint is int:
        return s.integer(name, default, f.metadata.get("minimum", 0))
    if hint is float:
        return s.duration(name, default)
    if typing.get_origin(hint) is Literal:
        return s.text(name, default, tuple(str(a) for a in typing.get_args(hint)))
    if hint is str:
        text = s.text(name, default or "")
        return (text or None) if optional else text
    if typing.get_origin(hint) is tuple:
        return s.strings(name, default)
    raise TypeError(f"{name}: no reader for {hint!r}; pass it to read_section")
