"""End a gate run without garbage-collecting the whole heap three more times.

Once a gate run's record, store and report are written, three full collections remain: pytest's
unraisable-exception plugin calls ``gc.collect()`` in its ``pytest_unconfigure`` and again in its
cleanup, and the interpreter collects again as it shuts down. With torch, diffusers and a pipeline
loaded that is millions of objects traversed for nothing (a testbed first run on the 2-core CPU:
0.3 + 0.3 + 1.35 s, against a 25-30 s run).

``freeze_heap`` moves every object alive into the permanent generation, which collections skip.
The heap is unfrozen once pytest has cleaned up (``config.add_cleanup`` from the gate's
``pytest_configure``, so it runs after pytest's own cleanups), so a process that goes on after
``pytest.main()`` collects as before; at interpreter exit it is frozen again (``atexit``).

What is given up: a finalizer of an object in a reference cycle made before the freeze does not run
at the end, so pytest cannot warn about an exception raised in one. Nothing evalkit keeps relies on
one: files are written and closed, worker processes joined and the store committed before
``pytest_sessionfinish`` returns, and ``weakref.finalize``/``atexit`` callbacks (temporary folders)
still run.
"""

from __future__ import annotations

import atexit
import gc

_at_exit_registered = False


def freeze_heap() -> None:
    """Skip every later collection of the objects alive now (the run is over and written)."""
    gc.freeze()


def unfreeze_heap() -> None:
    """Collections see every object again (after pytest's own end-of-run collections)."""
    gc.unfreeze()


def skip_collections_at_exit() -> None:
    """At interpreter exit, freeze the heap before the shutdown's collection; registered once."""
    global _at_exit_registered
    if not _at_exit_registered:
        atexit.register(gc.freeze)
        _at_exit_registered = True
