"""Run a chia program (the farmer service, the ``chia`` command) trusting the lab's CA for
pool HTTPS, as a site trusts its own CA - everything else unchanged.

Why: chia verifies a pool's certificate against the Mozilla bundle it ships
(chia/ssl/create_ssl.py ``get_mozilla_ca_crt`` -> chia/ssl/cacert.pem, passed as ``cafile``
in chia/server/server.py ``ssl_context_for_root``; the farmer in
chia/farmer/farmer.py ``make_pool_protocol_request``, the wallet's CLI in
chia/cmds/plotnft_funcs.py), not the system store or SSL_CERT_FILE. An offline lab's stub
pool (chia_pool_stub.py) has no certificate from a public CA, so this points those
modules' ``get_mozilla_ca_crt`` at a bundle of chia's cacert.pem plus the lab CA, then
runs the program's own entry point. Run with the chia venv's python:

    python chia_lab_ca.py LAB_CA_PEM farmer|chia [ARGS...]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main() -> int:
    lab_ca, program, *rest = sys.argv[1:]
    import chia.cmds.plotnft_funcs as plotnft_funcs
    import chia.farmer.farmer as farmer
    import chia.ssl.create_ssl as create_ssl

    bundle = Path(tempfile.mkdtemp(prefix="chia-lab-ca-")) / "cacert.pem"
    bundle.write_text(
        Path(create_ssl.get_mozilla_ca_crt()).read_text() + "\n" + Path(lab_ca).read_text()
    )
    for module in (create_ssl, farmer, plotnft_funcs):
        module.get_mozilla_ca_crt = lambda: str(bundle)  # type: ignore[attr-defined]
    sys.argv = [program, *rest]
    if program == "farmer":
        from chia.farmer.start_farmer import main as farmer_main

        return farmer_main() or 0
    if program == "chia":
        from chia.cmds.chia import main as chia_main

        return chia_main() or 0
    sys.exit(f"unknown program {program}")


if __name__ == "__main__":
    sys.exit(main())
