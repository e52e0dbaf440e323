package e164

import "fmt"

// maxDigits is the E.164 maximum: country calling code plus national
// significant number.
const maxDigits = 15

// maxInput bounds the accepted input length, separators included. The most
// generously formatted real number is well below it.
const maxInput = 64

// Type is the coarse kind of a number, as in the Sinch query number
// response field "numberType".
type Type int

// Number types. The zero value is TypeUnknown.
const (
	// TypeUnknown means the bundled data cannot tell (or the country's
	// numbering plan does not distinguish, as in the NANP).
	TypeUnknown Type = iota
	// TypeFixed is a geographic (landline) number.
	TypeFixed
	// TypeMobile is a mobile network number.
	TypeMobile
	// TypeOther is a non-geographic number: freephone, shared cost,
	// premium rate, personal, VoIP, pager, M2M or a global service.
	TypeOther
)

// String returns the Sinch spelling: "Unknown", "Fixed", "Mobile" or
// "Other".
func (t Type) String() string {
	switch t {
	case TypeFixed:
		return "Fixed"
	case TypeMobile:
		return "Mobile"
	case TypeOther:
		return "Other"
	default:
		return "Unknown"
	}
}

// MarshalText encodes the type as its String form, so a Number marshals to
// JSON as "numberType"-style strings.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Number is a parsed, normalized phone number.
type Number struct {
	// E164 is the canonical form: "+" and the digits, e.g. "+46701234567".
	E164 string
	// CallingCode is the ITU country calling code without "+", e.g. "46".
	CallingCode string
	// Country is the ISO 3166-1 alpha-2 code, e.g. "SE", or "" for the
	// non-geographic calling codes (+800, +881, ...).
	Country string
	// Type is the number type, TypeUnknown where the data cannot tell.
	Type Type
}

// NationalNumber returns the national significant number: the digits after
// the calling code.
func (n Number) NationalNumber() string {
	if len(n.E164) < 1+len(n.CallingCode) {
		return ""
	}
	return n.E164[1+len(n.CallingCode):]
}

// Valid reports whether s is already canonical E.164: "+" followed by 2 to
// 15 digits, the first of them 1-9. It does not look up the calling code;
// use Parse for that.
func Valid(s string) bool {
	if len(s) < 3 || len(s) > 1+maxDigits || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Parse normalizes and classifies an international phone number.
//
// The input may contain spaces, tabs, "-", ".", "(" and ")" anywhere, and
// must start (after any of those) with "+" or with the international prefix
// "00": "+46 70-123 45 67", "0046701234567" and "(+1) 201 555 0100" all
// parse. A "(0)" right after the calling code ("+44 (0)20 7946 0958") is the
// national trunk prefix and dropped, except for +39, +378 and +379 whose
// numbers keep their 0. National formats are rejected with
// ErrNoCallingCode.
//
// A number must have between 8 (7 for a few small numbering plans) and 15
// digits including the calling code, and exactly 10 national digits behind
// +1 (NANP, whose area code and exchange must not start with 0 or 1) and +7.
// Other per-country lengths are not checked.
//
// Errors wrap ErrNotNumber, ErrNoCallingCode, ErrUnknownCallingCode,
// ErrTooShort or ErrTooLong, and quote the input:
// e164: "+999123": unknown country calling code.
func Parse(s string) (Number, error) {
	if len(s) > maxInput {
		return Number{}, parseError(s, ErrTooLong, "")
	}
	// buf holds "+" and the digits, with room for a "00" prefix or a "(0)"
	// trunk prefix; count goes on past a full buffer so that an over-long
	// number is reported as such.
	var buf [1 + 2 + maxDigits]byte
	buf[0] = '+'
	count, plus := 0, false
	trunk := -1 // digit index of a "(0)" written after the calling code
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '(' && trunk < 0 && count > 0 && i+2 < len(s) && s[i+1] == '0' && s[i+2] == ')' {
			trunk = count
		}
		switch {
		case c >= '0' && c <= '9':
			if 1+count < len(buf) {
				buf[1+count] = c
			}
			count++
		case c == '+':
			if plus || count > 0 {
				return Number{}, parseError(s, ErrNotNumber, "misplaced \"+\"")
			}
			plus = true
		case c == ' ' || c == '\t' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return Number{}, parseError(s, ErrNotNumber, "")
		}
	}
	if count == 0 {
		return Number{}, parseError(s, ErrNotNumber, "")
	}
	if count > len(buf)-1 {
		return Number{}, parseError(s, ErrTooLong, "")
	}
	if !plus {
		if count < 2 || buf[1] != '0' || buf[2] != '0' {
			return Number{}, parseError(s, ErrNoCallingCode, "")
		}
		// Drop the "00" international prefix.
		count -= 2
		trunk -= 2
		if count == 0 {
			return Number{}, parseError(s, ErrNotNumber, "")
		}
		copy(buf[1:], buf[3:3+count])
	}
	digits := buf[1 : 1+count]

	ccLen, country, ok := lookupCallingCode(digits)
	if !ok {
		return Number{}, parseError(s, ErrUnknownCallingCode, "")
	}
	if trunk == ccLen && !keepsTrunkZero[string(digits[:ccLen])] {
		// "+46 (0)70 ...": the national trunk prefix, not part of the number.
		copy(digits[trunk:], digits[trunk+1:])
		digits = digits[:len(digits)-1]
	}
	if len(digits) > maxDigits {
		return Number{}, parseError(s, ErrTooLong, "")
	}
	cc, nsn := digits[:ccLen], digits[ccLen:]
	if want, ok := fixedLength[string(cc)]; ok {
		switch {
		case len(nsn) < want:
			return Number{}, parseError(s, ErrTooShort, fmt.Sprintf("+%s numbers have %d digits after the calling code", string(cc), want))
		case len(nsn) > want:
			return Number{}, parseError(s, ErrTooLong, fmt.Sprintf("+%s numbers have %d digits after the calling code", string(cc), want))
		}
	}
	minLen := minDigits
	if n, ok := shortPlans[string(cc)]; ok {
		minLen = n
	}
	if len(digits) < minLen {
		return Number{}, parseError(s, ErrTooShort, "")
	}
	if string(cc) == "1" {
		if nsn[0] < '2' {
			return Number{}, parseError(s, ErrNotNumber, "NANP area code must not start with 0 or 1")
		}
		if nsn[3] < '2' {
			return Number{}, parseError(s, ErrNotNumber, "NANP exchange code must not start with 0 or 1")
		}
	}

	if c, ok := lookupRegion(digits); ok {
		country = c
	}
	e := string(buf[:1+len(digits)])
	return Number{
		E164:        e,
		CallingCode: e[1 : 1+ccLen],
		Country:     country,
		Type:        classify(country, nsn),
	}, nil
}

// keepsTrunkZero lists calling codes whose numbers keep the leading 0 in
// international format (Italy, Vatican City, San Marino), so "(0)" after
// them is part of the number.
var keepsTrunkZero = map[string]bool{"39": true, "378": true, "379": true}

// lookupCallingCode finds the calling code that prefixes digits and
// returns its length.
func lookupCallingCode(digits []byte) (n int, country string, ok bool) {
	for n := min(3, len(digits)); n >= 1; n-- {
		if c, found := callingCodes[string(digits[:n])]; found {
			return n, c, true
		}
	}
	return 0, "", false
}

// lookupRegion returns the country of the longest regionPrefixes key that
// prefixes digits.
func lookupRegion(digits []byte) (string, bool) {
	for n := min(maxRegionPrefix, len(digits)); n >= 1; n-- {
		if c, ok := regionPrefixes[string(digits[:n])]; ok {
			return c, true
		}
	}
	return "", false
}

// classify returns the number type of a national significant number.
func classify(country string, nsn []byte) Type {
	switch country {
	case "":
		return TypeOther // global services
	case "BR":
		return brazilType(nsn)
	}
	table, ok := typePrefixes[country]
	if !ok {
		return TypeUnknown
	}
	for n := min(maxTypePrefix, len(nsn)); n >= 1; n-- {
		if t, ok := table[string(nsn[:n])]; ok {
			return t
		}
	}
	return TypeUnknown
}

// brazilType classifies Brazilian numbers (Anatel): a 2-digit area code
// (DDD, 11-99) and a subscriber number of 9 digits starting with 9 (mobile)
// or 8 digits starting with 2-5 (fixed).
func brazilType(nsn []byte) Type {
	if len(nsn) < 3 || nsn[0] == '0' || nsn[1] == '0' {
		return TypeUnknown
	}
	switch {
	case len(nsn) == 11 && nsn[2] == '9':
		return TypeMobile
	case len(nsn) == 10 && nsn[2] >= '2' && nsn[2] <= '5':
		return TypeFixed
	}
	return TypeUnknown
}

// parseError formats `e164: "<input>": <reason>[: detail]`. Long input is
// cut so that an error never carries an unbounded string.
func parseError(s string, err error, detail string) error {
	const maxQuoted = 40
	if len(s) > maxQuoted {
		s = s[:maxQuoted] + "..."
	}
	if detail != "" {
		return fmt.Errorf("e164: %q: %w: %s", s, err, detail)
	}
	return fmt.Errorf("e164: %q: %w", s, err)
}
