-- People's 0-10 ratings of checkpoints (evalkit rate), and a view setting each beside evalkit's quality.
-- Idempotent. No foreign key to training_runs: a file may be rated before any evaluation of it is synced.

create table if not exists ratings (
    rating_id text primary key,
    checkpoint_sha256 text not null,
    name text,
    score double precision not null check (score >= 0 and score <= 10),
    note text,
    rated_by text,
    rated_at timestamptz not null
);
create index if not exists ratings_by_checkpoint on ratings (checkpoint_sha256, rated_at);
alter table ratings enable row level security;

-- The newest rating of each checkpoint with its latest evaluation's quality and mean scores
-- (training_summary); quality is null for a checkpoint rated but never evaluated.
create or replace view rated_quality with (security_invoker = true) as
with latest_rating as (
    select distinct on (checkpoint_sha256) *
    from ratings
    order by checkpoint_sha256, rated_at desc, rating_id desc
), counts as (
    select checkpoint_sha256, count(*) as ratings from ratings group by checkpoint_sha256
)
select r.checkpoint_sha256,
       coalesce(s.name, r.name) as name,
       r.score as rating,
       r.note,
       r.rated_by,
       r.rated_at,
       c.ratings,
       s.latest_quality as quality,
       s.latest_run_id,
       s.mean_grid_sharpness,
       s.mean_palette_fidelity,
       s.mean_photorealism,
       s.mean_prompt_adherence
from latest_rating r
join counts c on c.checkpoint_sha256 = r.checkpoint_sha256
left join training_summary s on s.checkpoint_sha256 = r.checkpoint_sha256;

insert into evalkit_schema_migrations (version) values ('20261202000200') on conflict (version) do nothing;
