"""Test helper, run under torchrun: `evalkit ARGS...` in which one rank dies mid-render.

    torchrun --nproc-per-node 2 tests/distributed/crash_rank.py RANK_TO_KILL evalkit-args...

That rank is ended with os._exit(9), as the OOM killer or a GPU fault would
end it, right after its second image reached the cache, while its renderer
may be mid-batch and a PNG writer thread mid-write. Lives in tests/ only:
evalkit has no failure-injection hook.
"""

import os
import sys
import threading

from evalkit.cli import main
from evalkit.render.cache import RenderCache

if os.environ["RANK"] == sys.argv[1]:
    real_put, lock, written = RenderCache.put, threading.Lock(), []

    def put_then_die(self, *args, **kwargs):
        render = real_put(self, *args, **kwargs)
        with lock:
            written.append(render.path)
            if len(written) == 2:
                os._exit(9)
        return render

    RenderCache.put = put_then_die

sys.exit(main(sys.argv[2:]))
