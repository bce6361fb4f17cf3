"""Make one small Chia plot (k=18) for the validation set's farm, with chia's own code.

``chia plotters chiapos`` refuses k < 25 from the command line (chia/plotting/util.py
``validate_plot_size``); a k=25 plot takes minutes of CPU and ~600 MB. chia's tests plot
k=18 through the same library call (``chia.plotting.create_plots.create_plots``, the one
the command ends in), which is what this does: a real chiapos plot for the farmer's
public key and pool public key, found by the harvester like any other. Run with the chia
venv's python (tools/realset/chia_setup.sh):

    CHIA_ROOT=... CHIA_KEYS_ROOT=... python chia_plot.py FARMER_PK POOL_PK TMP_DIR FINAL_DIR

A pool plot (a plot NFT's, farmed for a pool) has the plot NFT's pool contract puzzle hash
instead of a pool public key (``chia plots create -c``): POOL_PK ``contract:<address>``
(``chia plotnft show``'s "Pool contract address").
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from chia.plotting.create_plots import PlotKeys, create_plots
from chia.plotting.util import Params
from chia_rs import G1Element


def main() -> None:
    farmer_pk, pool_pk, tmp_dir, final_dir = sys.argv[1:5]
    params = Params(
        size=18,
        num=1,
        buffer=100,
        num_threads=0,
        buckets=0,
        tmp_dir=Path(tmp_dir),
        tmp2_dir=None,
        final_dir=Path(final_dir),
        plotid=None,
        memo=None,
        nobitfield=False,
        stripe_size=2000,
    )
    farmer = G1Element.from_bytes(bytes.fromhex(farmer_pk))
    if pool_pk.startswith("contract:"):
        keys = PlotKeys(farmer, None, pool_pk.removeprefix("contract:"))
    else:
        keys = PlotKeys(farmer, G1Element.from_bytes(bytes.fromhex(pool_pk)), None)
    created, existing = asyncio.run(create_plots(params, keys, use_datetime=False))
    for path in list(created.values()) + list(existing.values()):
        print(path)


if __name__ == "__main__":
    main()
