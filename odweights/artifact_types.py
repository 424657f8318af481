"""Custom artifact types of odweights.

Type names follow the Kubeflow Pipelines v2 schema-title pattern
`^[a-z][a-z0-9-_]{2,20}[.][A-Z][a-zA-Z0-9-_]{2,49}$`, so the pipeline compiles
for KFP v2 / Vertex AI as it runs locally.
"""

from tfx.types.artifact import Artifact  # tfx.v1.dsl.Artifact, without tfx.v1's imports


class LabelMap(Artifact):
    """`label_map.pbtxt`: the OD API's StringIntLabelMap (class name -> id from 1)."""

    TYPE_NAME = "odweights.LabelMap"


class IngestReport(Artifact):
    """What the VOC ExampleGen rejected and why: `rejected.jsonl` and `totals.json`."""

    TYPE_NAME = "odweights.IngestReport"


class ClassWeights(Artifact):
    """`class_weights.json` (+ a PNG chart): per-class weights and repeat factors."""

    TYPE_NAME = "odweights.ClassWeights"


class OdApiExport(Artifact):
    """Uncompressed, sharded TFRecords + label map the OD API reads as they are."""

    TYPE_NAME = "odweights.OdApiExport"


KFP_V2_TYPE_NAME_PATTERN = r"^[a-z][a-z0-9-_]{2,20}[.][A-Z][a-zA-Z0-9-_]{2,49}$"
