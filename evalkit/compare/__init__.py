"""Attribution across training runs: which setting changed what (`evalkit compare`).

On the data path after the score store and before the report: scored runs
(one per checkpoint, its per-render scores and inspected ``ss_*`` settings)
go in, effects with bootstrap intervals, confounded settings and the next
runs that would separate them come out, as plain data (`Attribution`).
"""
