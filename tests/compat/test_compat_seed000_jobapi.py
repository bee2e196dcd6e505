"""Seed 000 (Job API): its two samples, as job scripts in a real cook on the local scheduler."""

from __future__ import annotations


def test_pdgjson_sample_reads_and_sets_attributes_of_its_item(example):
    ex = example("seed000")
    summary = ex.cook()
    assert summary.status == "success", summary
    items = ex.items("pdgjson_job")
    assert len(items) == 2
    for item in items:
        # work_item.setStringAttrib('runtime_attrib', 'test value', 0) reached the running item
        assert item.attrs["runtime_attrib"] == ["string", ["test value"]]
        assert item.attrs["myintattrib"] == ["int", [item.index]]  # what attribValue('myintattrib') read


def test_pdgcmd_sample_sets_an_attribute_with_the_smallest_fix(example):
    ex = example("seed000")
    assert ex.cook().status == "success"
    for item in ex.items("pdgcmd_job"):
        assert item.attrs["runtime_attrib"] == ["string", ["test value"]]
