"""Feature keys of the records odweights writes.

The `image/...` keys are the TF Object Detection API's own
(object_detection/data_decoders/tf_example_decoder.py); see
shared design notes `od-api-contract.md`.
"""

HEIGHT = "image/height"
WIDTH = "image/width"
FILENAME = "image/filename"
SOURCE_ID = "image/source_id"
KEY_SHA256 = "image/key/sha256"
ENCODED = "image/encoded"
FORMAT = "image/format"
BBOX_XMIN = "image/object/bbox/xmin"
BBOX_XMAX = "image/object/bbox/xmax"
BBOX_YMIN = "image/object/bbox/ymin"
BBOX_YMAX = "image/object/bbox/ymax"
CLASS_TEXT = "image/object/class/text"
CLASS_LABEL = "image/object/class/label"
DIFFICULT = "image/object/difficult"
TRUNCATED = "image/object/truncated"
VIEW = "image/object/view"
WEIGHT = "image/object/weight"

# Auxiliary feature written by the VOC ExampleGen only so that StatisticsGen
# counts images per class: each class name present in the image, once, sorted.
# It is deliberately outside the OD API's namespace (never `image/class/text`,
# which the OD API reads as image-level labels) and is dropped by Transform.
CLASSES_IN_IMAGE = "odweights/classes_in_image"

BBOX_KEYS = (BBOX_XMIN, BBOX_XMAX, BBOX_YMIN, BBOX_YMAX)

# One value per box, in box order.
PER_BOX_KEYS = BBOX_KEYS + (CLASS_TEXT, CLASS_LABEL, DIFFICULT, TRUNCATED, VIEW)

# One value per image.
PER_IMAGE_KEYS = (HEIGHT, WIDTH, FILENAME, SOURCE_ID, KEY_SHA256, ENCODED, FORMAT)

# Every key of an ExampleGen output example.
EXAMPLE_GEN_KEYS = PER_IMAGE_KEYS + PER_BOX_KEYS + (CLASSES_IN_IMAGE,)

# Every key of an exported (weighted) example.
EXPORT_KEYS = PER_IMAGE_KEYS + PER_BOX_KEYS + (WEIGHT,)

# Image-level label keys that must never be written (see CLASSES_IN_IMAGE).
FORBIDDEN_PREFIX = "image/class/"

# Features StatisticsGen computes statistics for: never the image bytes or the
# per-image identifiers, which nobody needs statistics of and which cost time.
STATISTICS_KEYS = (HEIGHT, WIDTH, FORMAT) + BBOX_KEYS + (
    CLASS_TEXT, CLASS_LABEL, DIFFICULT, TRUNCATED, VIEW, CLASSES_IN_IMAGE)
