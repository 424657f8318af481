"""odweights: Pascal VOC to class-weighted TFRecords for the TF Object Detection API."""

__version__ = "0.1.0"
