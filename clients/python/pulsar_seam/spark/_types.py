"""Seam's Arrow schema as Spark types, and each record batch made into exactly the Arrow
layout Spark expects for them (pyspark checks a data source's batches against
`to_arrow_schema(schema)` and refuses any difference).

| Arrow (Seam)                          | Spark                  | note                                   |
|---------------------------------------|------------------------|----------------------------------------|
| bool                                  | boolean                |                                        |
| int8 / int16 / int32 / int64          | byte / short / int / long |                                     |
| uint8 / uint16 / uint32               | short / int / long     | widened: Spark has no unsigned types   |
| uint64                                | decimal(20,0)          | widened, lossless                      |
| float32 / float64                     | float / double         |                                        |
| utf8                                  | string                 |                                        |
| dictionary<utf8> (AVRO enums)         | string                 | decoded: Spark has no dictionary type  |
| binary, fixed_size_binary             | binary                 |                                        |
| arrow.uuid (extension)                | string                 | canonical 8-4-4-4-12 text: Spark has no uuid type |
| date32                                | date                   |                                        |
| timestamp with time zone              | timestamp              | ms → µs                                |
| timestamp without time zone           | timestamp_ntz          | local-timestamp-* logical types        |
| time32 / time64 (time of day)         | long                   | µs since midnight: Spark 4.3's TIME needs spark.sql.timeType.enabled and is refused by its writers |
| decimal(p ≤ 38, s)                    | decimal(p, s)          |                                        |
| decimal(p > 38, s)                    | string                 | Spark's decimals stop at 38 digits     |
| list / struct / map                   | array / struct / map   | element, field and value types as above |
| null                                  | void                   |                                        |

Metadata columns: `__key` string, `__topic` string, `__messageId` binary (Pulsar's
serialized MessageId), `__publishTime` timestamp, `__eventTime` timestamp (null when unset),
`__messageProperties` map<string, string>.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    NullType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

_SPARK_DECIMAL_DIGITS = 38


def _is_uuid(t: pa.DataType) -> bool:
    return isinstance(t, pa.ExtensionType) and t.extension_name == "arrow.uuid"


def spark_type(t: pa.DataType, column: str) -> DataType:
    """The Spark type a column of Arrow type `t` is read as (see the module's table)."""
    if _is_uuid(t):
        return StringType()
    if isinstance(t, pa.ExtensionType):
        return spark_type(t.storage_type, column)
    if pa.types.is_dictionary(t):
        return spark_type(t.value_type, column)
    simple = [
        (pa.types.is_null, NullType),
        (pa.types.is_boolean, BooleanType),
        (pa.types.is_int8, ByteType),
        (lambda x: pa.types.is_int16(x) or pa.types.is_uint8(x), ShortType),
        (lambda x: pa.types.is_int32(x) or pa.types.is_uint16(x), IntegerType),
        (lambda x: pa.types.is_int64(x) or pa.types.is_uint32(x), LongType),
        (lambda x: pa.types.is_float16(x) or pa.types.is_float32(x), FloatType),
        (pa.types.is_float64, DoubleType),
        (lambda x: pa.types.is_string(x) or pa.types.is_large_string(x), StringType),
        (lambda x: pa.types.is_binary(x) or pa.types.is_large_binary(x)
         or pa.types.is_fixed_size_binary(x), BinaryType),
        (pa.types.is_date, DateType),
        (pa.types.is_time, LongType),
    ]
    for test, spark in simple:
        if test(t):
            return spark()
    if pa.types.is_uint64(t):
        return DecimalType(20, 0)
    if pa.types.is_timestamp(t):
        return TimestampType() if t.tz else TimestampNTZType()
    if pa.types.is_decimal(t):
        return DecimalType(t.precision, t.scale) if t.precision <= _SPARK_DECIMAL_DIGITS else StringType()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return ArrayType(spark_type(t.value_type, column), t.value_field.nullable)
    if pa.types.is_map(t):
        return MapType(spark_type(t.key_type, column), spark_type(t.item_type, column), t.item_field.nullable)
    if pa.types.is_struct(t):
        return StructType([spark_field(t.field(i)) for i in range(t.num_fields)])
    raise TypeError(f"column {column}: Seam's Arrow type {t} has no Spark type here")


def spark_field(f: pa.Field) -> StructField:
    return StructField(f.name, spark_type(f.type, f.name), f.nullable)


def spark_schema(schema: pa.Schema) -> StructType:
    """The Spark schema of a Seam read whose Arrow schema (GetSchema) is `schema`."""
    return StructType([spark_field(f) for f in schema])


def _needs_rebuild(t: pa.DataType) -> bool:
    """Whether a plain Arrow cast cannot make this type into Spark's (uuid text, time of
    day as µs), here or inside a nested type."""
    if _is_uuid(t) or pa.types.is_time(t):
        return True
    if pa.types.is_dictionary(t):
        return _needs_rebuild(t.value_type)
    if isinstance(t, pa.ExtensionType):
        return False
    return any(_needs_rebuild(t.field(i).type) for i in range(t.num_fields)) if t.num_fields else False


def _uuid_text(array: pa.Array) -> pa.Array:
    return pa.array([None if b is None else str(uuid.UUID(bytes=b)) for b in array.storage.to_pylist()],
                    pa.string())


def _convert(array: pa.Array, target: pa.DataType) -> pa.Array:
    source = array.type
    if not _needs_rebuild(source):
        return array.cast(target)
    if _is_uuid(source):
        return _uuid_text(array)
    if pa.types.is_time(source):
        return array.cast(pa.time64("us")).cast(pa.int64()).cast(target)
    if pa.types.is_dictionary(source):
        return _convert(array.dictionary_decode(), target)
    mask = array.is_null() if array.null_count else None
    if pa.types.is_struct(source):
        children = [_convert(array.field(i), target.field(i).type) for i in range(source.num_fields)]
        return pa.StructArray.from_arrays(children, fields=list(target), mask=mask)
    if pa.types.is_map(source):
        keys = _convert(array.keys, target.key_type)
        items = _convert(array.items, target.item_type)
        return pa.MapArray.from_arrays(array.offsets, keys, items, type=target, mask=mask)
    if pa.types.is_list(source) or pa.types.is_large_list(source):
        values = _convert(array.flatten(), target.value_type)
        offsets = array.offsets
        offsets = pc.subtract(offsets, offsets[0]) if len(offsets) else offsets
        return pa.ListArray.from_arrays(offsets.cast(pa.int32()), values, type=target, mask=mask)
    raise TypeError(f"cannot convert Arrow {source} to Spark's {target}")


def batch_converter(schema: StructType) -> Callable[[pa.RecordBatch], pa.RecordBatch]:
    """A function making Seam's record batches into Spark's Arrow layout for `schema`,
    taking columns by name (the order Spark asks for)."""
    target = to_arrow_schema(schema, timezone="UTC")

    def convert(batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = [_convert(batch.column(f.name), f.type) for f in target]
        return pa.RecordBatch.from_arrays(columns, schema=target)

    return convert
