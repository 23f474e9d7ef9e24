"""The score store: every gate run's record in one local SQLite file (``reports/evalkit.sqlite``).

* ``ScoreStore``: add a run, read runs back   (store)
* ``record_rows``: a `RunRecord` as the store's (and Supabase's) table rows   (rows)
* ``TABLES``: the tables and their columns, shared with the sync backends   (tables)

Written after every gate run; read by the report and mirrored by `evalkit.sync`.
"""
