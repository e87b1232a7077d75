"""The holder's client configuration: where the CA's API is and which bundle to trust.

One TOML file per user, found in this order:

1. ``$ALBCA_CLIENT_CONFIG`` (a file path);
2. ``$XDG_CONFIG_HOME/albca/client.toml`` (XDG Base Directory Specification 0.8);
3. ``~/.config/albca/client.toml`` (the specification's default for XDG_CONFIG_HOME).

``albca bootstrap`` writes it and the bundle (``ca-bundle.pem`` beside it); every later
call verifies the API's TLS against that bundle. The environment is read by the caller
(the CLI) and handed in as a mapping.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from albca.holder.errors import ConfigError

__all__ = ["ClientConfig", "config_path", "load_config", "save_config", "DEFAULT_AUDIENCE"]

DEFAULT_AUDIENCE = "albca-renew"  # the API's default ALBCA_API_RENEWAL_AUDIENCE


@dataclass(frozen=True)
class ClientConfig:
    ca_url: str
    bundle: Path
    fingerprint: str
    renewal_audience: str = DEFAULT_AUDIENCE

    def bundle_pem(self) -> bytes:
        try:
            return self.bundle.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the saved CA bundle {self.bundle}: {exc.strerror}; "
                "run albca bootstrap again"
            ) from None


def config_path(explicit: Path | None, xdg_config_home: str | None) -> Path:
    """ALBCA_CLIENT_CONFIG if set, else client.toml under the XDG config home."""
    if explicit is not None:
        return explicit.expanduser()
    # The XDG Base Directory spec says a relative XDG_CONFIG_HOME is invalid and must be
    # ignored.
    if xdg_config_home and os.path.isabs(xdg_config_home):
        root = Path(xdg_config_home)
    else:
        root = Path.home() / ".config"
    return root / "albca" / "client.toml"


def load_config(path: Path) -> ClientConfig:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"no client configuration at {path}; run albca bootstrap --ca-url URL "
            "--fingerprint SHA256 first"
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable client configuration: {exc}") from None
    missing = [key for key in ("ca_url", "bundle", "fingerprint") if key not in data]
    if missing:
        raise ConfigError(f"{path}: {missing[0]} is missing; run albca bootstrap again")
    for key in ("ca_url", "bundle", "fingerprint", "renewal_audience"):
        if key in data and not isinstance(data[key], str):
            raise ConfigError(f"{path}: {key} must be a string")
    bundle = Path(data["bundle"])
    return ClientConfig(
        ca_url=data["ca_url"],
        bundle=bundle if bundle.is_absolute() else path.parent / bundle,
        fingerprint=data["fingerprint"],
        renewal_audience=data.get("renewal_audience", DEFAULT_AUDIENCE),
    )


def save_config(path: Path, config: ClientConfig, bundle_pem: bytes) -> None:
    """Write the bundle, then the configuration that names it (each replaced atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _replace(config.bundle, bundle_pem)
    lines = [
        "# albca client configuration, written by `albca bootstrap`.",
        *(
            # JSON strings are valid TOML basic strings (same escapes, \\uXXXX included).
            f"{key} = {json.dumps(value)}"
            for key, value in (
                ("ca_url", config.ca_url),
                ("bundle", str(config.bundle)),
                ("fingerprint", config.fingerprint),
                ("renewal_audience", config.renewal_audience),
            )
        ),
    ]
    _replace(path, ("\n".join(lines) + "\n").encode())


def _replace(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
