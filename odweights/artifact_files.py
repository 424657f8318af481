"""Names of the files inside our artifacts that more than one component reads.

VocExampleGen writes the IngestReport's files; OdExport copies `rejected.jsonl`
into the export and checks its counts against `totals.json`. Components never
import each other (see docs/architecture.md), so the names live in the base.
"""

# IngestReport: one JSON line per rejected image or box, and the ingest's counts.
REJECTED_FILE = "rejected.jsonl"
TOTALS_FILE = "totals.json"
