"""dbt-duckdb plugin (profiles.yml `plugins`): what the build connection needs before dbt uses it.

- The build warehouse's folder is created owner-only (0700) before DuckDB creates the file: it
  holds staging and intermediate data with clear numbers and UPNs, which BI tools never open.
- `pstn_pseudonym(text)`: the keyed hash that the marts apply to user identifiers when
  pseudonymisation is on. The key stays in this process's memory; it never enters SQL text,
  dbt's compiled files or its logs. Without a key the function fails the build with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from pstn.files import make_private_folder
from pstn.pseudonym import PseudonymKeyError, load_key, pseudonymiser


class Plugin(BasePlugin):
    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        path = getattr(creds, "path", None)
        if path and path != ":memory:" and "://" not in str(path):
            make_private_folder(Path(path).expanduser().resolve().parent)

    def configure_connection(self, conn: Any) -> None:
        try:
            function = pseudonymiser(load_key())
        except PseudonymKeyError as error:
            message = str(error)

            def function(value: str | None) -> str | None:
                raise PseudonymKeyError(message)

        conn.create_function("pstn_pseudonym", function, ["VARCHAR"], "VARCHAR", side_effects=False)
