"""Names of the files inside our artifacts that more than one layer reads.

VocExampleGen writes the IngestReport's files; OdExport copies `rejected.jsonl`
into the export and checks its counts against `totals.json`, and writes the
OD API's reader blocks that the run summary and the OD API training helpers
read. Components never import each other, and the base imports no component
(see docs/architecture.md), so the names live in the base.
"""

# IngestReport: one JSON line per rejected image or box, and the ingest's counts.
REJECTED_FILE = "rejected.jsonl"
TOTALS_FILE = "totals.json"

# OdApiExport: the OD API's train/eval input reader blocks for the export.
INPUT_READER_FILE = "input_reader.config"
