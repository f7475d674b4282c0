package snomed

import "errors"

// Partitions name the component an SCTID identifies: the second and third digits from the
// right, "0x" for the short (international) format and "1x" for an extension namespace.
const (
	PartitionConcept      = 0
	PartitionDescription  = 1
	PartitionRelationship = 2
)

// Verhoeff tables (dihedral group D5 multiplication, position permutation, inverse).
var (
	verhoeffD = [10][10]uint8{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
		{2, 3, 4, 0, 1, 7, 8, 9, 5, 6}, {3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
		{4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
		{6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
		{8, 7, 6, 5, 9, 3, 2, 1, 0, 4}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
	}
	verhoeffP = [8][10]uint8{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
		{5, 8, 0, 3, 7, 9, 6, 1, 4, 2}, {8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
		{9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
		{2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
	}
	verhoeffInv = [10]uint8{0, 4, 3, 2, 1, 5, 6, 7, 8, 9}
)

// CheckDigit returns the Verhoeff check digit to append to the digits of id (an SCTID
// without its last digit).
func CheckDigit(id uint64) uint64 {
	var c uint8
	for i := 1; ; i++ {
		c = verhoeffD[c][verhoeffP[i%8][id%10]]
		id /= 10
		if id == 0 {
			break
		}
	}
	return uint64(verhoeffInv[c])
}

// MakeID builds an SCTID from an item identifier (with namespace digits, if any, already
// in front) and a partition: item, partition digits, check digit.
func MakeID(item uint64, partition int) uint64 {
	base := item*100 + uint64(partition)
	return base*10 + CheckDigit(base)
}

var (
	errIDSyntax    = errors.New("not an SCTID (6 to 18 digits, no leading zero)")
	errIDCheck     = errors.New("SCTID check digit is wrong")
	errIDPartition = errors.New("SCTID partition is wrong for this column")
)

// parseID reads an SCTID. partition >= 0 asks that the id be of that component type;
// check asks for the Verhoeff check digit and the partition to be verified.
func parseID(b []byte, partition int, check bool) (uint64, error) {
	if len(b) < 6 || len(b) > 18 || b[0] == '0' {
		return 0, errIDSyntax
	}
	var v uint64
	var c uint8
	for i := len(b) - 1; i >= 0; i-- {
		d := b[i] - '0'
		if d > 9 {
			return 0, errIDSyntax
		}
		c = verhoeffD[c][verhoeffP[(len(b)-1-i)%8][d]]
	}
	for _, ch := range b {
		v = v*10 + uint64(ch-'0')
	}
	if !check {
		return v, nil
	}
	if c != 0 {
		return 0, errIDCheck
	}
	p := int(v / 10 % 100)
	if p/10 > 1 || (partition >= 0 && p%10 != partition) {
		return 0, errIDPartition
	}
	return v, nil
}

// ValidID reports whether id is a well-formed SCTID (check digit and a known partition).
func ValidID(id uint64) bool {
	var buf [20]byte
	b := appendUint(buf[:0], id)
	_, err := parseID(b, -1, true)
	return err == nil
}

func appendUint(b []byte, v uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}
