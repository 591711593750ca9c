"""Data: sources (csv / parquet / sklearn / synthetic), checks, task inference, categoricals, split.

Everything here is engine-agnostic; both engines receive the same `Dataset`.
`files` (which files, their format, shards) · `sources` (what a recipe's data section names) ·
`schema` (FeatureSchema) · `numeric` (numeric coercion) · `column_types` (numeric, categorical, datetime,
text; `dates` and `text` their features) · `split` · `prepare` (checks, typing, the Dataset) · `inputs`
(streamed predict inputs) ·
`leaks` (features that alone predict the target).
"""

from __future__ import annotations

from mlscale.data.files import (
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    SourceFiles,
    file_format,
    read_file,
    read_rows,
    resolve_files,
)
from mlscale.data.inputs import count_input_rows, input_columns, iter_input_batches
from mlscale.data.numeric import is_numeric_target, is_text_column
from mlscale.data.prepare import (
    MAX_MULTICLASS,
    Dataset,
    describe_encodings,
    encoding_table,
    infer_task,
    prepare,
)
from mlscale.data.schema import FeatureSchema
from mlscale.data.sources import describe_source, load_table, sklearn_table, synthetic_table

__all__ = [
    "CSV_SUFFIXES",
    "MAX_MULTICLASS",
    "PARQUET_SUFFIXES",
    "Dataset",
    "FeatureSchema",
    "SourceFiles",
    "count_input_rows",
    "describe_encodings",
    "describe_source",
    "encoding_table",
    "file_format",
    "infer_task",
    "input_columns",
    "is_numeric_target",
    "is_text_column",
    "iter_input_batches",
    "load_table",
    "prepare",
    "read_file",
    "read_rows",
    "resolve_files",
    "sklearn_table",
    "synthetic_table",
]
