"""Reading and writing the OD API's label map (StringIntLabelMap, text format).

The OD API's proto (object_detection/protos/string_int_label_map.proto) is not
installed with TFX, so the fields that label maps use (`name`, `id`,
`display_name`) are declared here with the same field numbers and parsed with
protobuf's own text-format parser, as the OD API's label_map_util does.
"""

from collections.abc import Iterable, Mapping

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from odweights.errors import InvalidOptionsError

LABEL_MAP_FILE = "label_map.pbtxt"


def _label_map_class():
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="odweights/string_int_label_map.proto", package="odweights.labelmap", syntax="proto2"
    )
    item = file_proto.message_type.add(name="StringIntLabelMapItem")
    for name, number, field_type in (
        ("name", 1, descriptor_pb2.FieldDescriptorProto.TYPE_STRING),
        ("id", 2, descriptor_pb2.FieldDescriptorProto.TYPE_INT32),
        ("display_name", 3, descriptor_pb2.FieldDescriptorProto.TYPE_STRING),
    ):
        item.field.add(
            name=name,
            number=number,
            type=field_type,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
    label_map = file_proto.message_type.add(name="StringIntLabelMap")
    label_map.field.add(
        name="item",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
        type_name=".odweights.labelmap.StringIntLabelMapItem",
        label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    descriptor = pool.FindMessageTypeByName("odweights.labelmap.StringIntLabelMap")
    # protobuf >= 4.21 has GetMessageClass and protobuf 6 removed GetPrototype;
    # 3.20 (the tfx-1.16 stack) has only GetPrototype (docs/platforms.md).
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


_StringIntLabelMap = _label_map_class()


def parse_label_map(text: str) -> dict[str, int]:
    """Returns {class name: id} of a StringIntLabelMap text, validated.

    Ids must be positive (0 is the OD API's background) and unique, and so
    must names. Fields other than name, id and display_name are ignored.
    """
    proto = _StringIntLabelMap()
    try:
        text_format.Parse(text, proto, allow_unknown_field=True)
    except text_format.ParseError as error:
        raise InvalidOptionsError(
            f"label map is not a StringIntLabelMap in text format ({error}); "
            "expected blocks like `item { id: 1 name: 'cat' }`"
        ) from None
    return _validated((item.name, item.id) for item in proto.item)


def _validated(items: Iterable) -> dict[str, int]:
    result: dict[str, int] = {}
    seen_ids: dict[int, str] = {}
    for name, class_id in items:
        if not name:
            raise InvalidOptionsError("label map: an item has no name")
        if class_id < 1:
            raise InvalidOptionsError(
                f"label map: class {name!r} has id {class_id}; ids start at 1 "
                "(0 is the OD API's background class)"
            )
        if name in result:
            raise InvalidOptionsError(f"label map: class {name!r} is listed twice")
        if class_id in seen_ids:
            raise InvalidOptionsError(
                f"label map: id {class_id} is used by both {seen_ids[class_id]!r} and {name!r}"
            )
        result[name] = class_id
        seen_ids[class_id] = name
    if not result:
        raise InvalidOptionsError("label map: it lists no classes")
    return result


def assign_ids(class_names: Iterable[str]) -> dict[str, int]:
    """Ids 1..K for class names in sorted (code point) order: same names, same ids."""
    return {name: i for i, name in enumerate(sorted(set(class_names)), start=1)}


def format_label_map(label_map: Mapping[str, int]) -> str:
    """StringIntLabelMap text (UTF-8), items in id order, readable by the OD API."""
    _validated(label_map.items())
    proto = _StringIntLabelMap()
    for name, class_id in sorted(label_map.items(), key=lambda item: item[1]):
        proto.item.add(name=name, id=class_id)
    return text_format.MessageToString(proto, as_utf8=True)
