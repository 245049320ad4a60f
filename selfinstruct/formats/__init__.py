"""Export to the formats fine-tuning tools read, and import data sets people already have.

Formats: the paper's GPT-3 prompt/completion encoding, Alpaca JSON and JSON
Lines, OpenAI chat fine-tuning JSONL, ShareGPT, a Hugging Face data set folder
(Parquet plus a data card), CSV, and the Self-Instruct seed format.
"""

from .catalog import ALIASES, FORMATS, Format, resolve
from .codecs import RecordError, Row
from .exporting import ExportOptions, ExportRefused, ExportResult, export_run, manifest_path, write_tasks
from .files import FileFormatError
from .importing import BadRecord, ImportRefused, ImportResult, Parsed, detect_format, import_file, read_file

__all__ = [
    "ALIASES", "FORMATS", "BadRecord", "ExportOptions", "ExportRefused", "ExportResult", "FileFormatError", "Format",
    "ImportRefused", "ImportResult", "Parsed", "RecordError", "Row", "detect_format", "export_run",
    "import_file", "manifest_path", "read_file", "resolve", "write_tasks",
]
