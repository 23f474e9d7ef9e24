-- Issue 18: the fourth per-image metric, prompt adherence (evalkit/score/prompt_adherence.py).
-- Its suite mean joins the other three on evaluation_runs, and the views gain it as their
-- last column (create or replace view may only add columns at the end). Idempotent.

alter table evaluation_runs add column if not exists mean_prompt_adherence double precision;

-- Each training run with its latest verdict and that evaluation's mean scores.
create or replace view training_summary with (security_invoker = true) as
with latest as (
    select distinct on (checkpoint_sha256) *
    from evaluation_runs
    where checkpoint_sha256 is not null
    order by checkpoint_sha256, started_at desc, run_id desc
), history as (
    select checkpoint_sha256,
           count(*) as evaluations,
           count(*) filter (where verdict = 'pass') as passed_evaluations,
           min(started_at) as first_evaluated_at
    from evaluation_runs
    group by checkpoint_sha256
)
select t.checkpoint_sha256,
       t.name,
       t.base_model,
       t.family,
       t.network_dim,
       t.network_alpha,
       t.caption_version,
       t.caption_fingerprint,
       t.learning_rate,
       t.optimizer,
       t.steps,
       t.training_finished_at,
       coalesce(h.evaluations, 0) as evaluations,
       coalesce(h.passed_evaluations, 0) as passed_evaluations,
       h.first_evaluated_at,
       l.run_id as latest_run_id,
       l.started_at as latest_evaluated_at,
       l.verdict as latest_verdict,
       l.quality as latest_quality,
       l.mean_grid_sharpness,
       l.mean_palette_fidelity,
       l.mean_photorealism,
       l.mean_prompt_adherence
from training_runs t
left join latest l on l.checkpoint_sha256 = t.checkpoint_sha256
left join history h on h.checkpoint_sha256 = t.checkpoint_sha256;

-- Effectiveness of a training choice, over each training's latest evaluation:
-- one row per (dimension, value); the two views below pick a dimension.
create or replace view training_effectiveness with (security_invoker = true) as
select d.dimension,
       d.value,
       count(*) as trainings,
       count(s.latest_verdict) as evaluated,
       count(*) filter (where s.latest_verdict = 'pass') as passing,
       avg(case when s.latest_verdict = 'pass' then 1.0 when s.latest_verdict is not null then 0.0 end) as pass_rate,
       avg(s.latest_quality) as mean_quality,
       max(s.latest_quality) as best_quality,
       avg(s.mean_grid_sharpness) as mean_grid_sharpness,
       avg(s.mean_palette_fidelity) as mean_palette_fidelity,
       avg(s.mean_photorealism) as mean_photorealism,
       avg(s.mean_prompt_adherence) as mean_prompt_adherence
from training_summary s
cross join lateral (values ('caption_version', s.caption_version), ('network_dim', s.network_dim::text)) as d (dimension, value)
group by d.dimension, d.value;

create or replace view caption_version_effectiveness with (security_invoker = true) as
select value as caption_version, trainings, evaluated, passing, pass_rate, mean_quality, best_quality,
       mean_grid_sharpness, mean_palette_fidelity, mean_photorealism, mean_prompt_adherence
from training_effectiveness
where dimension = 'caption_version';

create or replace view network_dim_effectiveness with (security_invoker = true) as
select value::bigint as network_dim, trainings, evaluated, passing, pass_rate, mean_quality, best_quality,
       mean_grid_sharpness, mean_palette_fidelity, mean_photorealism, mean_prompt_adherence
from training_effectiveness
where dimension = 'network_dim';

insert into evalkit_schema_migrations (version) values ('20261202000100') on conflict (version) do nothing;
