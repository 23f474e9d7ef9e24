-- Views answering the users' questions. Idempotent (create or replace).
-- security_invoker: a view applies the RLS of the tables to whoever queries it.

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
       l.mean_photorealism
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
       avg(s.mean_photorealism) as mean_photorealism
from training_summary s
cross join lateral (values ('caption_version', s.caption_version), ('network_dim', s.network_dim::text)) as d (dimension, value)
group by d.dimension, d.value;

create or replace view caption_version_effectiveness with (security_invoker = true) as
select value as caption_version, trainings, evaluated, passing, pass_rate, mean_quality, best_quality,
       mean_grid_sharpness, mean_palette_fidelity, mean_photorealism
from training_effectiveness
where dimension = 'caption_version';

create or replace view network_dim_effectiveness with (security_invoker = true) as
select value::bigint as network_dim, trainings, evaluated, passing, pass_rate, mean_quality, best_quality,
       mean_grid_sharpness, mean_palette_fidelity, mean_photorealism
from training_effectiveness
where dimension = 'network_dim';

-- One row per caption version: its fingerprint and how many trainings used it.
-- Many projects keep a hand-filled *table* of this name; it is left alone then.
do $$
begin
    if not exists (select 1 from pg_class
                   where relname = 'caption_versions_detailed' and relnamespace = 'public'::regnamespace
                     and relkind <> 'v') then
        create or replace view caption_versions_detailed with (security_invoker = true) as
        select caption_version,
               min(caption_fingerprint) as caption_fingerprint,
               count(distinct caption_fingerprint) as fingerprints,
               count(*) as trainings,
               max((captions ->> 'distinct_tags')::bigint) as distinct_tags,
               max((captions ->> 'images')::bigint) as captioned_images,
               max((captions ->> 'mean_tags_per_image')::double precision) as mean_tags_per_image,
               max((captions ->> 'hex_color_tags')::bigint) as hex_color_tags,
               (array_agg(captions -> 'top_tags'))[1] as top_tags,
               array_agg(name order by name) as trainings_named
        from training_runs
        group by caption_version;
    end if;
end
$$;

insert into evalkit_schema_migrations (version) values ('20261125000200') on conflict (version) do nothing;
