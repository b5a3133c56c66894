//! Kafka-compatible partitioning.
//!
//! The writer picks the partition itself, with the same function as Kafka's
//! default partitioner for keyed records (`DefaultPartitioner` /
//! `BuiltInPartitioner.partitionForKey`, librdkafka's `murmur2`):
//! `(murmur2(key) & 0x7fffffff) % partitions`, where the key is the aggregate
//! id in its hyphenated lowercase text form. Any Kafka tool that produces with
//! the same key therefore lands on the same partition.

use uuid::Uuid;

/// Kafka's murmur2 hash (seed `0x9747b28c`), as in `org.apache.kafka.common.utils.Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= u32::from(tail[2]) << 16;
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of a record keyed by `key`, for a topic of `partitions` partitions.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    assert!(partitions > 0, "a topic has at least one partition");
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// The partition of an aggregate: its id, hyphenated and lowercase, is the record key.
pub fn partition_for(aggregate_id: Uuid, partitions: i32) -> i32 {
    let mut buf = Uuid::encode_buffer();
    let key = aggregate_id.hyphenated().encode_lower(&mut buf);
    partition_for_key(key.as_bytes(), partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_vectors_of_kafkas_own_test_suite() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            (b"abc", 479_470_107),
        ];
        for (input, expected) in cases {
            assert_eq!(murmur2(input), expected, "murmur2({:?})", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn partition_is_stable_and_within_range() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let p = partition_for(id, 8);
        assert!((0..8).contains(&p));
        assert_eq!(p, partition_for(id, 8));
        assert_eq!(p, partition_for_key(b"01234567-89ab-cdef-0123-456789abcdef", 8));
    }
}
