"""The application of odweights (imported as `odweights.app`): the command line,
audits and reproduction, the run summary, the HTML report and the sample data.

It sits above the pipelines and may import every layer below it; nothing below
imports it (see docs/architecture.md).
"""
