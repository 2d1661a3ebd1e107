"""The command line's configuration: flags, then the environment, then a config file.

The file is TOML, `$INLOOP_CONFIG` or `~/.config/inloop/config.toml`:

    api_key = "inl_..."
    base_url = "https://inloop.example.com"
    webhook_secret = "whsec_..."   # only `inloop webhook listen` needs it
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

KEYS = ("api_key", "base_url", "webhook_secret")
ENVIRONMENT = {
    "api_key": "INLOOP_API_KEY",
    "base_url": "INLOOP_BASE_URL",
    "webhook_secret": "INLOOP_WEBHOOK_SECRET",
}


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Config:
    api_key: str | None
    base_url: str | None
    webhook_secret: str | None
    path: Path


def config_path() -> Path:
    explicit = os.environ.get("INLOOP_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or "~/.config"
    return Path(base).expanduser() / "inloop" / "config.toml"


def _read_file(path: Path) -> dict[str, str]:
    if not path.exists():
        if os.environ.get("INLOOP_CONFIG"):
            raise ConfigError(f"INLOOP_CONFIG names {path}, which does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {KEYS}")
    for key, value in data.items():
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {key} must be a string")
    return data


def load_config(**flags: str | None) -> Config:
    path = config_path()
    from_file = _read_file(path)
    values = {
        key: flags.get(key) or os.environ.get(ENVIRONMENT[key]) or from_file.get(key)
        for key in KEYS
    }
    return Config(path=path, **values)
