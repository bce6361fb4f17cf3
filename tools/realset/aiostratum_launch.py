"""Start aiostratum-proxy 1.1 (PyPI) unchanged, on a Python it predates.

It pins PyYAML 3.12 (no longer builds on Python 3.11) and calls ``yaml.load(text)``
without a Loader, which PyYAML 6 refuses. We install it with current PyYAML and give
``yaml.load`` the SafeLoader by default, then run its own ``main()``.
Usage: python aiostratum_launch.py -c CONFIG.yaml
"""

import functools

import yaml

yaml.load = functools.partial(yaml.load, Loader=yaml.SafeLoader)

from aiostratum_proxy.application import main  # noqa: E402 - after the patch

if __name__ == "__main__":
    main()
