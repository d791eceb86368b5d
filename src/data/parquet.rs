//! Parquet files in the Hugging Face `datasets` layout (one row per question, images embedded
//! as `{bytes, path}` structs), as the public benchmark releases ship them: reading rows of
//! typed values (every schema error names the file, the column and the row) and writing them.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A null cell.
    Null,
    /// Text.
    Str(String),
    /// Any integer column.
    Int(i64),
    /// Any floating-point column.
    Float(f64),
    /// A boolean column.
    Bool(bool),
    /// A list of strings (ScienceQA's `choices`).
    List(Vec<String>),
    /// Image bytes (a `{bytes, path}` struct or a binary column).
    Bytes(Vec<u8>),
}

/// A schema or content error in a benchmark file.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The file cannot be opened or is not a parquet file.
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A column is missing or has a type the benchmark cannot read.
    #[error("{path}: column '{column}': {message}")]
    Column {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// What went wrong.
        message: String,
    },
    /// One cell is null or malformed.
    #[error("{path}: row {row}: column '{column}': {message}")]
    Cell {
        /// The file.
        path: PathBuf,
        /// The row, 0-based over the whole file.
        row: usize,
        /// The column.
        column: String,
        /// What went wrong.
        message: String,
    },
}

/// One row: its position in the file and the cells of the columns asked for.
#[derive(Debug, Clone)]
pub struct Row {
    /// The file the row comes from (for error messages).
    pub path: PathBuf,
    /// 0-based row number over the whole file.
    pub row: usize,
    /// The cells by column name.
    pub cells: BTreeMap<String, Value>,
}

impl Row {
    /// An error about `column` of this row.
    pub fn error(&self, column: &str, message: impl std::fmt::Display) -> TableError {
        TableError::Cell {
            path: self.path.clone(),
            row: self.row,
            column: column.to_string(),
            message: message.to_string(),
        }
    }

    fn get(&self, column: &str) -> &Value {
        self.cells.get(column).unwrap_or(&Value::Null)
    }

    /// A text cell that must be present.
    pub fn str(&self, column: &str) -> Result<&str, TableError> {
        self.opt_str(column)?
            .ok_or_else(|| self.error(column, "is null, expected text"))
    }

    /// A text cell that may be null (or a column that may be missing).
    pub fn opt_str(&self, column: &str) -> Result<Option<&str>, TableError> {
        match self.get(column) {
            Value::Str(s) => Ok(Some(s)),
            Value::Null => Ok(None),
            other => Err(self.error(column, format!("expected text, found {other:?}"))),
        }
    }

    /// A text or integer cell as Python's `str()` writes it (HallusionBench's ids).
    pub fn text(&self, column: &str) -> Result<String, TableError> {
        match self.get(column) {
            Value::Str(s) => Ok(s.clone()),
            Value::Int(i) => Ok(i.to_string()),
            Value::Null => Err(self.error(column, "is null")),
            other => Err(self.error(
                column,
                format!("expected text or an integer, found {other:?}"),
            )),
        }
    }

    /// An integer cell.
    pub fn int(&self, column: &str) -> Result<i64, TableError> {
        match self.get(column) {
            Value::Int(i) => Ok(*i),
            Value::Null => Err(self.error(column, "is null, expected an integer")),
            other => Err(self.error(column, format!("expected an integer, found {other:?}"))),
        }
    }

    /// A list-of-strings cell.
    pub fn list(&self, column: &str) -> Result<&[String], TableError> {
        match self.get(column) {
            Value::List(items) => Ok(items),
            other => Err(self.error(
                column,
                format!("expected a list of strings, found {other:?}"),
            )),
        }
    }

    /// Image bytes, `None` for a null image.
    pub fn image(&self, column: &str) -> Result<Option<&[u8]>, TableError> {
        match self.get(column) {
            Value::Bytes(b) => Ok(Some(b)),
            Value::Null => Ok(None),
            other => Err(self.error(column, format!("expected an image, found {other:?}"))),
        }
    }
}

/// Reads `columns` of every row of the parquet file at `path`. A column in `required` that
/// the file lacks is an error; other missing columns read as null.
pub fn read_rows(
    path: &Path,
    required: &[&str],
    optional: &[&str],
) -> Result<Vec<Row>, TableError> {
    let read = |message: String| TableError::Read {
        path: path.to_path_buf(),
        message,
    };
    let file = File::open(path).map_err(|e| read(e.to_string()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| read(format!("not a readable parquet file: {e}")))?;
    let schema = builder.schema().clone();
    for column in required {
        if schema.column_with_name(column).is_none() {
            let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(TableError::Column {
                path: path.to_path_buf(),
                column: column.to_string(),
                message: format!("missing (the file has {have:?})"),
            });
        }
    }
    let reader = builder.build().map_err(|e| read(e.to_string()))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| read(format!("after row {}: {e}", rows.len())))?;
        append_batch(path, &batch, required.iter().chain(optional), &mut rows)?;
    }
    Ok(rows)
}

fn append_batch<'a>(
    path: &Path,
    batch: &RecordBatch,
    columns: impl Iterator<Item = &'a &'a str>,
    rows: &mut Vec<Row>,
) -> Result<(), TableError> {
    let first = rows.len();
    rows.extend((0..batch.num_rows()).map(|i| Row {
        path: path.to_path_buf(),
        row: first + i,
        cells: BTreeMap::new(),
    }));
    for &column in columns {
        let Some(array) = batch.column_by_name(column) else {
            continue;
        };
        for i in 0..batch.num_rows() {
            let value = cell(array, i).map_err(|message| TableError::Column {
                path: path.to_path_buf(),
                column: column.to_string(),
                message,
            })?;
            rows[first + i].cells.insert(column.to_string(), value);
        }
    }
    Ok(())
}

fn cell(array: &ArrayRef, i: usize) -> Result<Value, String> {
    if array.is_null(i) {
        return Ok(Value::Null);
    }
    Ok(match array.data_type() {
        DataType::Utf8 => Value::Str(array.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Value::Str(array.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Value::Str(array.as_string_view().value(i).to_string()),
        DataType::Int8 => Value::Int(array.as_primitive::<Int8Type>().value(i).into()),
        DataType::Int16 => Value::Int(array.as_primitive::<Int16Type>().value(i).into()),
        DataType::Int32 => Value::Int(array.as_primitive::<Int32Type>().value(i).into()),
        DataType::Int64 => Value::Int(array.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => Value::Int(array.as_primitive::<UInt8Type>().value(i).into()),
        DataType::UInt16 => Value::Int(array.as_primitive::<UInt16Type>().value(i).into()),
        DataType::UInt32 => Value::Int(array.as_primitive::<UInt32Type>().value(i).into()),
        DataType::UInt64 => {
            let v = array.as_primitive::<UInt64Type>().value(i);
            Value::Int(i64::try_from(v).map_err(|_| format!("row {i}: {v} is too large"))?)
        }
        DataType::Float32 => Value::Float(array.as_primitive::<Float32Type>().value(i).into()),
        DataType::Float64 => Value::Float(array.as_primitive::<Float64Type>().value(i)),
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Binary => Value::Bytes(array.as_binary::<i32>().value(i).to_vec()),
        DataType::LargeBinary => Value::Bytes(array.as_binary::<i64>().value(i).to_vec()),
        DataType::List(_) | DataType::LargeList(_) => Value::List(strings(array, i)?),
        DataType::Struct(_) => {
            let image = array.as_struct();
            match image.column_by_name("bytes") {
                Some(bytes) if bytes.is_null(i) => Value::Null,
                Some(bytes) => match cell(bytes, i)? {
                    Value::Bytes(b) => Value::Bytes(b),
                    other => return Err(format!("'bytes' holds {other:?}, expected binary")),
                },
                None => return Err("a struct without a 'bytes' field (expected an image)".into()),
            }
        }
        other => return Err(format!("unsupported type {other}")),
    })
}

fn strings(array: &ArrayRef, i: usize) -> Result<Vec<String>, String> {
    let items = match array.data_type() {
        DataType::List(_) => array.as_list::<i32>().value(i),
        _ => array.as_list::<i64>().value(i),
    };
    (0..items.len())
        .map(|j| match cell(&items, j)? {
            Value::Str(s) => Ok(s),
            other => Err(format!("a list item is {other:?}, expected text")),
        })
        .collect()
}

/// A column to write.
#[derive(Debug, Clone)]
pub enum Column {
    /// Text, nullable.
    Text(Vec<Option<String>>),
    /// 64-bit integers.
    Int(Vec<i64>),
    /// Encoded images, nullable, stored as Hugging Face `datasets` does (`{bytes, path}`).
    Image(Vec<Option<Vec<u8>>>),
}

/// Writes `columns` (all of one length) as a parquet file at `path`, atomically, in the
/// layout of the benchmarks' public releases.
pub fn write_table(path: &Path, columns: Vec<(&str, Column)>) -> Result<(), TableError> {
    use std::sync::Arc;

    use arrow_array::{BinaryArray, Int64Array, StringArray, StructArray};
    use arrow_schema::{Field, Fields, Schema};
    use parquet::arrow::ArrowWriter;

    let fail = |message: String| TableError::Read {
        path: path.to_path_buf(),
        message,
    };
    let image_fields = Fields::from(vec![
        Field::new("bytes", DataType::Binary, true),
        Field::new("path", DataType::Utf8, true),
    ]);
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (name, column) in columns {
        let (kind, array): (DataType, ArrayRef) = match column {
            Column::Text(v) => (DataType::Utf8, Arc::new(StringArray::from(v))),
            Column::Int(v) => (DataType::Int64, Arc::new(Int64Array::from(v))),
            Column::Image(v) => {
                let nulls = v.iter().map(Option::is_some).collect::<Vec<bool>>();
                let bytes: BinaryArray = v.iter().map(|b| b.as_deref()).collect();
                let paths = StringArray::from(vec![None::<String>; v.len()]);
                let parts: Vec<ArrayRef> = vec![Arc::new(bytes), Arc::new(paths)];
                let image = StructArray::try_new(image_fields.clone(), parts, Some(nulls.into()))
                    .map_err(|e| fail(format!("column '{name}': {e}")))?;
                (DataType::Struct(image_fields.clone()), Arc::new(image))
            }
        };
        fields.push(Field::new(name, kind, true));
        arrays.push(array);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| fail(e.to_string()))?;
    let mut buffer = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut buffer, batch.schema(), None).map_err(|e| fail(e.to_string()))?;
    writer.write(&batch).map_err(|e| fail(e.to_string()))?;
    writer.close().map_err(|e| fail(e.to_string()))?;
    crate::io::write_atomic(path, &buffer).map_err(|e| fail(e.to_string()))
}
