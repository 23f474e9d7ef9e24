"""Where the sync writes and with which credentials: the environment first, then a dotenv file.

Secrets (the service-role key, a connection string's password) live only in
`SyncSettings`; everything shown to a person goes through `describe_*` or
`redact`, so no key is printed, logged or written into reports.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from evalkit.errors import EvalkitError

URL_VAR = "SUPABASE_URL"
KEY_VAR = "SUPABASE_SERVICE_ROLE_KEY"
DSN_VAR = "SUPABASE_DB_URL"  # Supabase's direct or pooled Postgres connection string
BUCKET_VAR = "EVALKIT_STORAGE_BUCKET"
DEFAULT_BUCKET = "test-outputs"
DEFAULT_ENV_FILE = Path(".env")


@dataclass
class SyncSettings:
    url: str | None = None
    key: str | None = field(default=None, repr=False)
    dsn: str | None = field(default=None, repr=False)
    bucket: str = DEFAULT_BUCKET
    env_file: Path | None = None  # the dotenv file that was read, for error messages

    @property
    def secrets(self) -> list[str]:
        found = [self.key] if self.key else []
        if self.dsn:
            password = urlsplit(self.dsn).password if "://" in self.dsn else None
            found += [self.dsn] + ([password] if password else [])
        return found

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


def _read_env_file(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalkitError(path, f"cannot read the dotenv file ({type(exc).__name__})") from None
    return {k: v for k, v in values.items() if v is not None}


def load_settings(env_file: str | Path | None = None, *, dsn: str | None = None) -> SyncSettings:
    """Settings from the environment, filled in from `env_file` (default ``./.env`` when it exists)."""
    path = Path(env_file) if env_file is not None else DEFAULT_ENV_FILE
    if env_file is not None and not path.is_file():
        raise EvalkitError(path, "dotenv file not found")
    values = _read_env_file(path) if path.is_file() else {}
    values.update({k: v for k, v in os.environ.items() if k in (URL_VAR, KEY_VAR, DSN_VAR, BUCKET_VAR) and v})
    return SyncSettings(
        url=(values.get(URL_VAR) or "").strip() or None,
        key=(values.get(KEY_VAR) or "").strip() or None,
        dsn=dsn or (values.get(DSN_VAR) or "").strip() or None,
        bucket=values.get(BUCKET_VAR) or DEFAULT_BUCKET,
        env_file=path if path.is_file() else None,
    )


def describe_url(url: str) -> str:
    """The project URL without any query or credentials in it."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def describe_dsn(dsn: str) -> str:
    """``host:port/dbname`` of a connection string (URL or key=value form), never its password."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(dsn)
    except Exception:  # a malformed string: say nothing of its content
        return "the connection string"
    host, port, db = info.get("host") or "localhost", info.get("port") or "5432", info.get("dbname") or ""
    return f"postgres {host}:{port}/{db}"


def key_role(key: str) -> str | None:
    """The role a legacy JWT API key grants ("anon", "service_role"), or None for other key formats."""
    parts = key.split(".")
    if len(parts) != 3:
        return None  # e.g. the newer sb_secret_... keys carry no readable role
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return payload.get("role") if isinstance(payload, dict) else None
