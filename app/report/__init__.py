"""The HTML run report (OUT/export/report.html): see docs/report.md.

`write_report(OUT)` writes it from an output folder of `odweights run`; the
run calls it at its end and `odweights report OUT` calls it again.
"""
