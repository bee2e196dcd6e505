"""``import pdg``'s enums as PDG has them: PDG's numbers, printed as PDG prints its members."""

from __future__ import annotations

import json

import pdg


def test_pdg_enums_print_as_pdg_prints_them():
    assert str(pdg.workItemState.CookedSuccess) == "workItemState.CookedSuccess"
    assert f"{pdg.attribType.String}" == "attribType.String"
    assert str(pdg.attribFlag.NoCopy) == "attribFlag.NoCopy"
    assert pdg.workItemState.CookedSuccess == 6 and json.dumps([pdg.workItemState.CookedSuccess]) == "[6]"
