"""Feature keys of the records odweights writes.

The `image/...` keys are the TF Object Detection API's own
(object_detection/data_decoders/tf_example_decoder.py); see
docs/training.md ("The OD API's data contract").
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

# Auxiliary features written by the VOC ExampleGen only so that StatisticsGen
# counts what class weights need; TFDV's top-value frequency of a class c is:
# - CLASSES_IN_IMAGE: each class name present in the image, once, sorted, so
#   the frequency of c is m_c, the number of images containing c;
# - OBJECTS_IN_IMAGES_WITH_CLASS: for an image with N kept objects, each class
#   name present in the image repeated N times, sorted, so the frequency of c is
#   D_c, the number of objects in the images containing c (median frequency).
# They are deliberately outside the OD API's namespace (never `image/class/text`,
# which the OD API reads as image-level labels) and are dropped by Transform.
CLASSES_IN_IMAGE = "odweights/classes_in_image"
OBJECTS_IN_IMAGES_WITH_CLASS = "odweights/objects_in_images_with_class"

AUXILIARY_KEYS = (CLASSES_IN_IMAGE, OBJECTS_IN_IMAGES_WITH_CLASS)

BBOX_KEYS = (BBOX_XMIN, BBOX_XMAX, BBOX_YMIN, BBOX_YMAX)

# One value per box, in box order.
PER_BOX_KEYS = BBOX_KEYS + (CLASS_TEXT, CLASS_LABEL, DIFFICULT, TRUNCATED, VIEW)

# One value per image.
PER_IMAGE_KEYS = (HEIGHT, WIDTH, FILENAME, SOURCE_ID, KEY_SHA256, ENCODED, FORMAT)

# Every key of an ExampleGen output example.
EXAMPLE_GEN_KEYS = PER_IMAGE_KEYS + PER_BOX_KEYS + AUXILIARY_KEYS

# Every key of an exported (weighted) example.
EXPORT_KEYS = PER_IMAGE_KEYS + PER_BOX_KEYS + (WEIGHT,)

# Image-level label keys that must never be written (see AUXILIARY_KEYS).
FORBIDDEN_PREFIX = "image/class/"

# Features StatisticsGen computes statistics for: never the image bytes or the
# per-image identifiers, which nobody needs statistics of and which cost time.
STATISTICS_KEYS = (
    (HEIGHT, WIDTH, FORMAT)
    + BBOX_KEYS
    + (CLASS_TEXT, CLASS_LABEL, DIFFICULT, TRUNCATED, VIEW)
    + AUXILIARY_KEYS
)
