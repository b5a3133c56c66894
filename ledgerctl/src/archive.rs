//! The backup format: a directory with `manifest.json` and, per partition,
//! immutable segment files `p<partition>-<start>-<end>.records.gz`, each with
//! its SHA-256 in the manifest. A segment is gzip of one frame per record, all
//! integers little-endian: offset (i64), timestamp in ms (i64, `i64::MIN` for
//! none), key (u32 length, bytes), value (u32 length, bytes), header count
//! (u16), then per header its name (u16 length, UTF-8) and value (u32 length,
//! bytes; `u32::MAX` for none). A backup run only ever adds segments, and
//! rewrites the manifest (atomically) to list them.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a backup directory holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub topic: String,
    pub partitions: i32,
    /// The `ledgerctl` version of the last run.
    pub tool_version: String,
    /// Every segment, by partition then start offset.
    pub segments: Vec<Segment>,
}

/// One immutable file of records `[start, end)` of one partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub partition: i32,
    pub start: i64,
    pub end: i64,
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
}

/// One record as backed up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub offset: i64,
    pub timestamp_ms: Option<i64>,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Stored {
    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(&self.offset.to_le_bytes())?;
        out.write_all(&self.timestamp_ms.unwrap_or(i64::MIN).to_le_bytes())?;
        for bytes in [&self.key, &self.value] {
            out.write_all(&(bytes.len() as u32).to_le_bytes())?;
            out.write_all(bytes)?;
        }
        out.write_all(&(self.headers.len() as u16).to_le_bytes())?;
        for (name, value) in &self.headers {
            out.write_all(&(name.len() as u16).to_le_bytes())?;
            out.write_all(name.as_bytes())?;
            match value {
                Some(value) => {
                    out.write_all(&(value.len() as u32).to_le_bytes())?;
                    out.write_all(value)?;
                }
                None => out.write_all(&u32::MAX.to_le_bytes())?,
            }
        }
        Ok(())
    }

    /// The next frame of `input`, `None` at its clean end.
    fn read(input: &mut impl Read) -> std::io::Result<Option<Stored>> {
        let mut first = [0u8; 8];
        match input.read(&mut first[..1])? {
            0 => return Ok(None),
            _ => input.read_exact(&mut first[1..])?,
        }
        let offset = i64::from_le_bytes(first);
        let timestamp = i64::from_le_bytes(array(input)?);
        let len = u32::from_le_bytes(array(input)?);
        let key = bytes(input, len)?;
        let len = u32::from_le_bytes(array(input)?);
        let value = bytes(input, len)?;
        let mut headers = Vec::new();
        for _ in 0..u16::from_le_bytes(array(input)?) {
            let len = u32::from(u16::from_le_bytes(array(input)?));
            let name = bytes(input, len)?;
            let name = String::from_utf8(name).map_err(|_| invalid("a header name is not UTF-8"))?;
            let len = u32::from_le_bytes(array(input)?);
            let value = match len {
                u32::MAX => None,
                len => Some(bytes(input, len)?),
            };
            headers.push((name, value));
        }
        let timestamp_ms = (timestamp != i64::MIN).then_some(timestamp);
        Ok(Some(Stored { offset, timestamp_ms, key, value, headers }))
    }
}

fn array<const N: usize>(input: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Largest field a frame may claim: a damaged length must not allocate gigabytes.
const MAX_FIELD: u32 = 64 << 20;

fn bytes(input: &mut impl Read, len: u32) -> std::io::Result<Vec<u8>> {
    if len > MAX_FIELD {
        return Err(invalid("a length beyond any record"));
    }
    let mut bytes = vec![0u8; len as usize];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn invalid(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why)
}

impl Manifest {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("manifest.json")
    }

    /// The manifest of `dir`, if it has one.
    pub fn read(dir: &Path) -> anyhow::Result<Option<Manifest>> {
        match std::fs::read(Self::path(dir)) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the manifest atomically (a temporary file, then a rename).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let temporary = dir.join("manifest.json.tmp");
        std::fs::write(&temporary, serde_json::to_vec_pretty(self)?)?;
        std::fs::File::open(&temporary)?.sync_all()?;
        std::fs::rename(temporary, Self::path(dir))?;
        Ok(())
    }

    /// Where the backup of `partition` ends (the next offset to back up).
    pub fn end_of(&self, partition: i32) -> i64 {
        self.segments.iter().filter(|s| s.partition == partition).map(|s| s.end).max().unwrap_or(0)
    }

    /// The segments of `partition`, in offset order.
    pub fn of(&self, partition: i32) -> Vec<&Segment> {
        let mut segments: Vec<&Segment> = self.segments.iter().filter(|s| s.partition == partition).collect();
        segments.sort_by_key(|s| s.start);
        segments
    }
}

/// Writes `records` (offsets `[start, end)`) as a new segment of `partition`; never overwrites.
pub fn write_segment(dir: &Path, partition: i32, start: i64, end: i64, records: &[Stored]) -> anyhow::Result<Segment> {
    let file = format!("p{partition}-{start:020}-{end:020}.records.gz");
    let path = dir.join(&file);
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for record in records {
        record.write(&mut encoder)?;
    }
    let bytes = encoder.finish()?;
    let mut out = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
    out.write_all(&bytes)?;
    out.sync_all()?;
    let sha256 = hex(&Sha256::digest(&bytes));
    Ok(Segment { partition, start, end, file, sha256, bytes: bytes.len() as u64 })
}

/// Reads a segment back, checking its checksum and that its offsets are exactly `[start, end)`.
pub fn read_segment(dir: &Path, segment: &Segment) -> anyhow::Result<Vec<Stored>> {
    let bytes = std::fs::read(dir.join(&segment.file))?;
    let records = decode(&bytes, segment);
    let sha256 = hex(&Sha256::digest(&bytes));
    if sha256 != segment.sha256 {
        let at = match &records {
            Err((offset, _)) => format!("the first damaged record is at offset {offset}"),
            Ok(_) => format!("its records [{}, {}) decode, but their bytes changed", segment.start, segment.end),
        };
        anyhow::bail!("{}: checksum mismatch (the file is damaged): {at}", segment.file);
    }
    records.map_err(|(_, error)| error)
}

/// The records of a segment; on failure, the offset where it failed and why.
fn decode(bytes: &[u8], segment: &Segment) -> Result<Vec<Stored>, (i64, anyhow::Error)> {
    let mut records = Vec::new();
    let mut input = BufReader::new(GzDecoder::new(bytes));
    loop {
        let expected = segment.start + records.len() as i64;
        let fail = |why: String| (expected, anyhow::anyhow!("{}: offset {expected}: {why}", segment.file));
        let Some(record) = Stored::read(&mut input).map_err(|e| fail(format!("unreadable: {e}")))? else { break };
        if record.offset != expected {
            return Err(fail(format!("holds offset {} (records missing or out of order)", record.offset)));
        }
        records.push(record);
    }
    let end = segment.start + records.len() as i64;
    if end != segment.end {
        return Err((
            end,
            anyhow::anyhow!("{}: ends at offset {end}, the manifest says {}", segment.file, segment.end),
        ));
    }
    Ok(records)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: i64) -> Stored {
        let headers = vec![("ledger-commit-id".to_owned(), Some(b"c1".to_vec())), ("empty".to_owned(), None)];
        Stored {
            offset,
            timestamp_ms: (offset % 2 == 0).then_some(1_700_000_000_000),
            key: b"k".to_vec(),
            value: vec![offset as u8; 40],
            headers,
        }
    }

    fn dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ledgerline-archive-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a directory");
        dir
    }

    #[test]
    fn a_segment_reads_back_exactly_the_records_it_was_written_with() {
        let (dir, records): (PathBuf, Vec<Stored>) = (dir(), (5..9).map(record).collect());
        let segment = write_segment(&dir, 2, 5, 9, &records).expect("written");
        assert_eq!(read_segment(&dir, &segment).expect("read"), records);
        // A segment is never overwritten.
        assert!(write_segment(&dir, 2, 5, 9, &records).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_damaged_segment_is_refused_with_its_file_name() {
        let (dir, records): (PathBuf, Vec<Stored>) = (dir(), (0..50).map(record).collect());
        let segment = write_segment(&dir, 0, 0, 50, &records).expect("written");
        let path = dir.join(&segment.file);
        let mut bytes = std::fs::read(&path).expect("bytes");
        let last = bytes.len() - 12;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).expect("damaged");
        let error = read_segment(&dir, &segment).expect_err("damaged").to_string();
        assert!(error.contains(&segment.file) && error.contains("checksum"), "{error}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
