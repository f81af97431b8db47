"""Progress bars on stderr, so stdout stays clean for --json."""

import contextlib
import sys

from tqdm import tqdm


class _Bar:
    def __init__(self, bar):
        self._bar = bar

    def step(self, **postfix):
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(1)

    def close(self):
        if self._bar is not None:
            self._bar.close()


def open_bar(total: int, desc: str, quiet: bool = False) -> _Bar:
    """A bar that a callee drives and closes (``step()``, ``close()``): for work whose length is
    known only inside it (egru explore counts its tasks after the cache)."""
    return _Bar(None if quiet else tqdm(total=total, desc=desc, file=sys.stderr, leave=False, mininterval=0.5,
                                        dynamic_ncols=True))


@contextlib.contextmanager
def bar(total: int, desc: str, quiet: bool = False):
    """A tqdm bar of ``total`` steps on stderr (none when ``quiet``)."""
    if quiet:
        yield _Bar(None)
        return
    with tqdm(total=total, desc=desc, file=sys.stderr, leave=False, mininterval=0.5,
              dynamic_ncols=True) as b:
        yield _Bar(b)


def say(message: str, quiet: bool = False) -> None:
    """A status line on stderr."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)
