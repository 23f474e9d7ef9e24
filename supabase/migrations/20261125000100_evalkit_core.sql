-- evalkit score store, core tables (mirrors evalkit/sync/tables.py).
-- Idempotent: safe to apply again. Every table has a natural unique key,
-- so each write from `evalkit sync` is an upsert (running it twice changes nothing).
-- Row-level security is on with no policies: only the service role (which
-- bypasses RLS) and the table owner can read or write; add policies to share.

create table if not exists evalkit_schema_migrations (
    version    text primary key,
    applied_at timestamptz not null default now()
);

-- One row per checkpoint file (its sha256): what was trained, and how.
create table if not exists training_runs (
    checkpoint_sha256    text primary key check (checkpoint_sha256 <> ''),
    name                 text,
    file_name            text,
    base_model           text,
    family               text,
    network_module       text,
    network_dim          bigint,
    network_alpha        double precision,
    caption_version      text,
    caption_fingerprint  text,
    caption_counts_hash  text,
    learning_rate        double precision,
    unet_lr              double precision,
    text_encoder_lr      double precision,
    optimizer            text,
    lr_scheduler         text,
    steps                bigint,
    epochs               bigint,
    total_batch_size     bigint,
    resolution           text,
    seed                 bigint,
    mixed_precision      text,
    num_train_images     bigint,
    training_started_at  timestamptz,
    training_finished_at timestamptz,
    model_hash           text,
    legacy_hash          text,
    settings             jsonb,
    captions             jsonb
);

-- One row per (gate run, checkpoint): how it was evaluated and the verdict.
create table if not exists evaluation_runs (
    run_id                text not null,
    checkpoint_name       text not null,
    checkpoint_sha256     text references training_runs (checkpoint_sha256),
    checkpoint_path       text,
    model_hash            text,
    base_model            text,
    render_config_key     text,
    render_config         jsonb,
    prompts_path          text,
    prompts_sha256        text,
    golden_path           text,
    evalkit_version       text,
    torch_version         text,
    diffusers_version     text,
    versions              jsonb,
    device                text,
    started_at            timestamptz not null,
    finished_at           timestamptz,
    verdict               text not null check (verdict in ('pass', 'fail', 'error')),
    run_verdict           text check (run_verdict in ('pass', 'fail', 'error')),
    error                 text,
    quality               double precision,
    images                bigint,
    rendered              bigint,
    cached                bigint,
    render_seconds        double precision,
    mean_grid_sharpness   double precision,
    mean_palette_fidelity double precision,
    mean_photorealism     double precision,
    thresholds            jsonb,
    primary key (run_id, checkpoint_name)
);
create index if not exists evaluation_runs_by_checkpoint on evaluation_runs (checkpoint_sha256, started_at desc);

-- One row per (run, checkpoint, prompt, seed, metric).
create table if not exists scores (
    run_id              text not null,
    checkpoint_name     text not null,
    prompt_id           text not null,
    seed                bigint not null,
    metric              text not null,
    checkpoint_sha256   text,
    value               double precision,
    threshold           double precision,
    direction           text check (direction in ('min', 'max')),
    passed              boolean,
    prompt              text,
    render_path         text,
    render_storage_path text,
    grid24_storage_path text,
    primary key (run_id, checkpoint_name, prompt_id, seed, metric),
    foreign key (run_id, checkpoint_name) references evaluation_runs (run_id, checkpoint_name) on delete cascade
);
create index if not exists scores_by_metric on scores (metric, checkpoint_sha256);

-- Set-level results per (run, checkpoint): MMD against the golden set, memorisation.
create table if not exists set_results (
    run_id            text not null,
    checkpoint_name   text not null,
    name              text not null,
    checkpoint_sha256 text,
    value             double precision,
    p_value           double precision,
    passed            boolean,
    detail            jsonb,
    primary key (run_id, checkpoint_name, name),
    foreign key (run_id, checkpoint_name) references evaluation_runs (run_id, checkpoint_name) on delete cascade
);

-- Every gate decision (threshold, baseline, set) per (run, checkpoint).
create table if not exists verdicts (
    run_id          text not null,
    checkpoint_name text not null,
    kind            text not null,
    metric          text not null,
    passed          boolean not null,
    value           double precision,
    low             double precision,
    high            double precision,
    threshold       double precision,
    baseline        double precision,
    message         text,
    primary key (run_id, checkpoint_name, kind, metric),
    foreign key (run_id, checkpoint_name) references evaluation_runs (run_id, checkpoint_name) on delete cascade
);

alter table evalkit_schema_migrations enable row level security;
alter table training_runs enable row level security;
alter table evaluation_runs enable row level security;
alter table scores enable row level security;
alter table set_results enable row level security;
alter table verdicts enable row level security;

insert into evalkit_schema_migrations (version) values ('20261125000100') on conflict (version) do nothing;
