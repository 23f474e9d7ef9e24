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


def thaw_after_pytest(config) -> None:
    """After pytest's own end-of-run collections, collections see every object again; at interpreter exit
    the heap is frozen before the shutdown's collection (registered once per process).

    Called from the gate's ``pytest_configure``: a cleanup added then runs after pytest's plugins' cleanups
    (the stack is last in, first out, and theirs are added later), the unraisable-exception one included."""
    global _at_exit_registered
    config.add_cleanup(gc.unfreeze)
    if not _at_exit_registered:
        atexit.register(gc.freeze)
        _at_exit_registered = True
