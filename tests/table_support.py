"""Test support for the columnar batch paths: tables as a Parquet chunk's reader may give them."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def as_dictionaries(table: pa.Table) -> pa.Table:
    """The table with every text column a dictionary (chunk_files._few_values reads a Parquet chunk's
    few-valued columns so), holding values no row of the chunk holds (a row group's dictionary serves
    the whole group), one of which trims to nothing."""
    columns = {}
    for name, column in zip(table.column_names, table.columns):
        column = column.combine_chunks()
        if pa.types.is_string(column.type):
            encoded = pc.dictionary_encode(column)
            values = pa.concat_arrays([pa.array(["  ", "不用的值"]), encoded.dictionary])
            column = pa.DictionaryArray.from_arrays(pc.add(encoded.indices, pa.scalar(2, encoded.indices.type)), values)
        columns[name] = column
    return pa.table(columns)
