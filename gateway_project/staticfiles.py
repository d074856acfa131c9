"""Static files (the admin's CSS and JS) served by WhiteNoise, collected or straight from the apps."""

from pathlib import Path
from typing import Any

from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, without its warning for a STATIC_ROOT that `collectstatic` has not filled.

    The admin's files are served straight from the apps (WHITENOISE_USE_FINDERS), so no
    `collectstatic` step is needed; STATIC_ROOT is used when one has been run (to hand the files
    to a CDN or nginx as well). An absent STATIC_ROOT therefore misses nothing, and the "No
    directory at" warning WhiteNoise would print at every start (the first line a newcomer saw,
    and not JSON) would say nothing true.
    """

    def add_files(self, root: Any, prefix: Any = None) -> None:
        if Path(root).is_dir():
            super().add_files(root, prefix)
