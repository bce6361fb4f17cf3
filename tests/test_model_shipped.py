"""The shipped flow model (models/minewatch.skops, built by ``make model``) against
captures no generator of ours wrote: the real-program set.

Why here: the model learnt from generated traffic only; whether that transfers to real
programs is the question. Every TLS miner of pcaps/realset must be found (by behaviour:
nothing inside TLS is readable) and every benign program must stay clean.
"""

from __future__ import annotations

import pytest

from detector.features import FEATURE_NAMES
from detector.model import DEFAULT_MODEL, card_path, load_model
from tests.conftest import PCAPS, run_cli

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no shipped model")
REALSET = PCAPS / "realset"


def test_the_shipped_model_verifies_and_its_card_records_it() -> None:
    model = load_model(DEFAULT_MODEL, build=True)
    assert set(model.meta.feature_names) <= set(FEATURE_NAMES)
    card = card_path(DEFAULT_MODEL).read_text(encoding="utf-8")
    assert model.meta.sha256 in card and "minewatch train" in card


def test_every_real_program_is_classified_right() -> None:
    result = run_cli("verify", str(REALSET), "--manifest", str(REALSET / "labels.csv"),
                     "--model", str(DEFAULT_MODEL), timeout=600)  # fmt: skip
    assert result.rc == 0, result.out + result.err


def test_a_tls_miner_alert_says_the_model_found_it_and_why() -> None:
    result = run_cli("scan", "-f", "jsonl", "--model", str(DEFAULT_MODEL),
                     str(REALSET / "xmrig-cnr-tls-443.pcap"))  # fmt: skip
    assert result.rc == 0, result.err
    (alert,) = result.events()
    meta = alert["alert"]["metadata"]
    assert alert["alert"]["signature_id"] == 3980001
    assert meta["mining_dialect"] == ["mining-rhythm"]
    threshold = load_model(DEFAULT_MODEL).meta.threshold
    assert float(meta["mining_model_score"][0]) >= threshold
    assert alert["tls"]  # the hello was read; the payload was not
    # without the model the same capture has no suspect: the rules cannot see inside
    bare = run_cli("scan", "-f", "jsonl", "--model", "none", str(REALSET / "xmrig-cnr-tls-443.pcap"))
    assert bare.rc == 0 and bare.events() == []
