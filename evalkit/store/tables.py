"""The normalised tables a `RunRecord` becomes, shared by the local store and the remote mirror.

One `Table` spec per table: its columns (with a portable type), the key
that makes every write an upsert, and which columns hold JSON. The SQLite
store builds its DDL from these specs; the Postgres DDL is the hand-written
``supabase/migrations/*.sql`` (a test checks both name the same columns).
Tables are listed parents first, the order rows must be written in.
"""

from __future__ import annotations

from dataclasses import dataclass

# Portable column types: SQLite gets the affinity, Postgres the real type.
TEXT, INT, REAL, BOOL, TIME, JSON = "text", "int", "real", "bool", "time", "json"


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (name, portable type), key columns included

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def json_columns(self) -> frozenset[str]:
        return frozenset(name for name, kind in self.columns if kind == JSON)

    def key_of(self, row: dict) -> tuple:
        return tuple(row[k] for k in self.key)


TRAINING_RUNS = Table(
    "training_runs",
    key=("checkpoint_sha256",),
    columns=(
        ("checkpoint_sha256", TEXT),
        ("name", TEXT),
        ("file_name", TEXT),
        ("base_model", TEXT),
        ("family", TEXT),
        ("network_module", TEXT),
        ("network_dim", INT),
        ("network_alpha", REAL),
        ("caption_version", TEXT),
        ("caption_fingerprint", TEXT),  # tag-set hash: same caption vocabulary => same value
        ("caption_counts_hash", TEXT),
        ("learning_rate", REAL),
        ("unet_lr", REAL),
        ("text_encoder_lr", REAL),
        ("optimizer", TEXT),
        ("lr_scheduler", TEXT),
        ("steps", INT),
        ("epochs", INT),
        ("total_batch_size", INT),
        ("resolution", TEXT),
        ("seed", INT),
        ("mixed_precision", TEXT),
        ("num_train_images", INT),
        ("training_started_at", TIME),
        ("training_finished_at", TIME),
        ("model_hash", TEXT),  # kohya sshs_model_hash (tensor bytes only)
        ("legacy_hash", TEXT),
        ("settings", JSON),  # the whole provenance record (training settings)
        ("captions", JSON),  # the whole caption fingerprint
    ),
)

EVALUATION_RUNS = Table(
    "evaluation_runs",
    key=("run_id", "checkpoint_name"),
    columns=(
        ("run_id", TEXT),
        ("checkpoint_name", TEXT),
        ("checkpoint_sha256", TEXT),
        ("checkpoint_path", TEXT),
        ("model_hash", TEXT),
        ("base_model", TEXT),
        ("render_config_key", TEXT),
        ("render_config", JSON),
        ("prompts_path", TEXT),
        ("prompts_sha256", TEXT),
        ("golden_path", TEXT),
        ("evalkit_version", TEXT),
        ("torch_version", TEXT),
        ("diffusers_version", TEXT),
        ("versions", JSON),
        ("device", TEXT),
        ("started_at", TIME),
        ("finished_at", TIME),
        ("verdict", TEXT),  # this checkpoint's status: pass | fail | error
        ("run_verdict", TEXT),  # the whole gate run's status
        ("error", TEXT),
        ("quality", REAL),
        ("images", INT),
        ("rendered", INT),
        ("cached", INT),
        ("render_seconds", REAL),
        ("mean_grid_sharpness", REAL),
        ("mean_palette_fidelity", REAL),
        ("mean_photorealism", REAL),
        ("thresholds", JSON),
        ("mean_prompt_adherence", REAL),  # added by a later migration: Postgres appends it
    ),
)

SCORES = Table(
    "scores",
    key=("run_id", "checkpoint_name", "prompt_id", "seed", "metric"),
    columns=(
        ("run_id", TEXT),
        ("checkpoint_name", TEXT),
        ("prompt_id", TEXT),
        ("seed", INT),
        ("metric", TEXT),
        ("checkpoint_sha256", TEXT),
        ("value", REAL),
        ("threshold", REAL),
        ("direction", TEXT),  # "min": value must be >= threshold; "max": <=
        ("passed", BOOL),
        ("prompt", TEXT),
        ("render_path", TEXT),  # relative to the reports folder
        ("render_storage_path", TEXT),  # <bucket>/<object path> once uploaded
        ("grid24_storage_path", TEXT),
    ),
)

SET_RESULTS = Table(
    "set_results",
    key=("run_id", "checkpoint_name", "name"),
    columns=(
        ("run_id", TEXT),
        ("checkpoint_name", TEXT),
        ("name", TEXT),  # a SET_METRICS name: "mmd" | "memorisation" | "diversity" | "collapse"
        ("checkpoint_sha256", TEXT),
        ("value", REAL),  # mmd2, or the copy rate
        ("p_value", REAL),
        ("passed", BOOL),  # the gate's set-level verdict, when it gave one
        ("detail", JSON),
    ),
)

VERDICTS = Table(
    "verdicts",
    key=("run_id", "checkpoint_name", "kind", "metric"),
    columns=(
        ("run_id", TEXT),
        ("checkpoint_name", TEXT),
        ("kind", TEXT),
        ("metric", TEXT),
        ("passed", BOOL),
        ("value", REAL),
        ("low", REAL),
        ("high", REAL),
        ("threshold", REAL),
        ("baseline", REAL),
        ("message", TEXT),
    ),
)

TABLES = (TRAINING_RUNS, EVALUATION_RUNS, SCORES, SET_RESULTS, VERDICTS)
TABLES_BY_NAME = {t.name: t for t in TABLES}
