package audit

import (
	"crypto/sha256"
	"encoding/binary"
)

// The chain. Entry n's hash is
//
//	SHA-256( "concord-audit-v1" 0x00 || prev_hash || seq || time || body )
//
// where prev_hash is the previous entry's hash (32 zero bytes before entry 1), seq the entry's
// sequence number as 8 bytes big-endian, time its microseconds since the Unix epoch (UTC) as
// 8 bytes big-endian two's complement, and body the AuditEvent JSON exactly as stored. Every
// field but the last has a fixed width, so the encoding is unambiguous; the tag names the
// scheme so a later one cannot be confused with it. Sequence numbers start at 1 and have no
// gaps, so a deleted entry shows as a gap or, if the rest were renumbered, as a prev_hash that
// no longer matches.

// HashSize is the length of an entry's hash.
const HashSize = sha256.Size

const hashTag = "concord-audit-v1\x00"

// genesis is the prev_hash of entry 1.
var genesis = make([]byte, HashSize)

// entryHash computes an entry's hash.
func entryHash(prev []byte, seq, micros int64, body []byte) []byte {
	h := sha256.New()
	var fixed [16]byte
	binary.BigEndian.PutUint64(fixed[:8], uint64(seq))
	binary.BigEndian.PutUint64(fixed[8:], uint64(micros))
	h.Write([]byte(hashTag))
	h.Write(prev)
	h.Write(fixed[:])
	h.Write(body)
	return h.Sum(nil)
}
