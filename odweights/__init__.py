"""odweights: Pascal VOC to class-weighted TFRecords for the TF Object Detection API."""

__version__ = "0.1.0"

# Kubeflow Pipelines v2: TFX's container entrypoint recovers a custom artifact
# class by importing its type name as a class path (`odweights.LabelMap` ->
# attribute `LabelMap` of this package), so the custom artifact types must be
# attributes of this package. Resolved lazily so that `import odweights` stays
# free of TFX.
_ARTIFACT_TYPES = ("LabelMap", "IngestReport", "ClassWeights", "OdApiExport")


def __getattr__(name):
    if name in _ARTIFACT_TYPES:
        from odweights import artifact_types

        return getattr(artifact_types, name)
    raise AttributeError(f"module 'odweights' has no attribute {name!r}")
