package fhir

// Matchers for the primitive formats that every resource is full of. They accept exactly
// what the regular expressions published with the FHIR R4 primitive types accept (the tests
// compare them on many inputs), at a fraction of the cost of running those expressions.

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isYear matches [0-9]{4} except "0000".
func isYear(s string) bool {
	return len(s) == 4 && isDigit(s[0]) && isDigit(s[1]) && isDigit(s[2]) && isDigit(s[3]) && s != "0000"
}

// isMonth matches 0[1-9]|1[0-2].
func isMonth(s string) bool {
	return len(s) == 2 && (s[0] == '0' && s[1] >= '1' && s[1] <= '9' || s[0] == '1' && s[1] >= '0' && s[1] <= '2')
}

// isDay matches 0[1-9]|[1-2][0-9]|3[0-1].
func isDay(s string) bool {
	return len(s) == 2 && (s[0] == '0' && s[1] >= '1' && s[1] <= '9' ||
		(s[0] == '1' || s[0] == '2') && isDigit(s[1]) ||
		s[0] == '3' && (s[1] == '0' || s[1] == '1'))
}

// isDate matches YYYY, YYYY-MM or YYYY-MM-DD.
func isDate(s string) bool {
	switch len(s) {
	case 4:
		return isYear(s)
	case 7:
		return isYear(s[:4]) && s[4] == '-' && isMonth(s[5:])
	case 10:
		return isFullDate(s)
	}
	return false
}

func isFullDate(s string) bool {
	return len(s) == 10 && isYear(s[:4]) && s[4] == '-' && isMonth(s[5:7]) && s[7] == '-' && isDay(s[8:])
}

// clockLen returns the length of the hh:mm:ss(.fraction)? at the start of s, or -1.
func clockLen(s string) int {
	if len(s) < 8 {
		return -1
	}
	hh := (s[0] == '0' || s[0] == '1') && isDigit(s[1]) || s[0] == '2' && s[1] >= '0' && s[1] <= '3'
	mm := s[3] >= '0' && s[3] <= '5' && isDigit(s[4])
	ss := s[6] >= '0' && s[6] <= '5' && isDigit(s[7]) || s[6] == '6' && s[7] == '0'
	if !hh || s[2] != ':' || !mm || s[5] != ':' || !ss {
		return -1
	}
	n := 8
	if n < len(s) && s[n] == '.' {
		i := n + 1
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == n+1 {
			return -1
		}
		n = i
	}
	return n
}

// isTimeZone matches Z|(+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00).
func isTimeZone(s string) bool {
	if s == "Z" {
		return true
	}
	if len(s) != 6 || s[0] != '+' && s[0] != '-' || s[3] != ':' {
		return false
	}
	if s[1:] == "14:00" {
		return true
	}
	return (s[1] == '0' && isDigit(s[2]) || s[1] == '1' && s[2] >= '0' && s[2] <= '3') &&
		s[4] >= '0' && s[4] <= '5' && isDigit(s[5])
}

// isDateTime matches a date, or a full date with a time and a zone.
func isDateTime(s string) bool {
	if len(s) <= 10 {
		return isDate(s)
	}
	return isInstant(s)
}

// isInstant matches a full date with a time and a zone.
func isInstant(s string) bool {
	if len(s) < 11 || !isFullDate(s[:10]) || s[10] != 'T' {
		return false
	}
	n := clockLen(s[11:])
	return n > 0 && isTimeZone(s[11+n:])
}

// isTime matches hh:mm:ss(.fraction)?.
func isTime(s string) bool { return clockLen(s) == len(s) }

// isID matches [A-Za-z0-9\-\.]{1,64}.
func isID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
