"""The label map reader/writer against the OD API's StringIntLabelMap text format."""

import pytest

from odweights import label_map
from odweights.errors import InvalidOptionsError


def test_round_trip_keeps_names_and_ids_including_quotes_and_non_ascii():
    classes = {"person": 1, "café": 2, "o'neil": 7, 'say "hi"': 3, "自行车": 4}
    text = label_map.format_label_map(classes)
    assert label_map.parse_label_map(text) == classes


def test_formatted_items_are_in_id_order():
    text = label_map.format_label_map({"b": 2, "a": 1, "c": 10})
    assert [line.strip() for line in text.splitlines() if "name" in line] == [
        'name: "a"',
        'name: "b"',
        'name: "c"',
    ]


def test_reads_what_od_api_label_maps_look_like():
    text = """
    # comment
    item {
      name: "/m/01g317"
      id: 1
      display_name: "person"
    }
    item { id: 2 name: 'bicycle' frequency: FREQUENT instance_count: 12 }
    """
    assert label_map.parse_label_map(text) == {"/m/01g317": 1, "bicycle": 2}


@pytest.mark.parametrize(
    "text, message",
    [
        ("item { id: 0 name: 'a' }", "ids start at 1"),
        ("item { id: 1 name: 'a' } item { id: 1 name: 'b' }", "id 1 is used by both"),
        ("item { id: 1 name: 'a' } item { id: 2 name: 'a' }", "listed twice"),
        ("item { id: 1 }", "no name"),
        ("", "lists no classes"),
        ("item { id: 1 name: 'a' ", "not a StringIntLabelMap"),
    ],
)
def test_invalid_label_maps_are_refused_with_a_reason(text, message):
    with pytest.raises(InvalidOptionsError, match=message):
        label_map.parse_label_map(text)


def test_assigned_ids_depend_only_on_the_set_of_names():
    assert label_map.assign_ids(["dog", "cat", "dog", "ant"]) == {"ant": 1, "cat": 2, "dog": 3}
    assert label_map.assign_ids(["ant", "dog", "cat"]) == label_map.assign_ids(
        ["cat", "ant", "dog"]
    )
