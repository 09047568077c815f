"""docs/configuration.md lists every key of the config with a meaning, as
scripts/config_reference.py makes it from the config's models."""

import sys

from tests.conftest import ROOT


def reference():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import config_reference
    finally:
        sys.path.pop(0)
    return config_reference


def test_the_reference_is_current_and_every_key_has_a_meaning():
    ref = reference()
    assert ref.block() in ref.TARGET.read_text(encoding="utf-8"), "run: python scripts/config_reference.py"
    listed = [key for key, _, _ in ref.keys()]
    assert {"churn.inactivity_days", "collections.terms_days", "report.output_dir", "inputs"} <= set(listed)
    assert [k for k in listed if not ref.MEANING.get(k)] == []
    assert set(ref.MEANING) <= set(listed)  # no meaning left for a key that is gone
