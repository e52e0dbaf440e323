package e164

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCountries(t *testing.T) {
	tests := []struct {
		name, in string
		want     Number
	}{
		// Input formats.
		{"SE spaced and dashed", "+46 70-123 45 67", Number{"+46701234567", "46", "SE", TypeMobile}},
		{"SE 00 prefix", "0046701234567", Number{"+46701234567", "46", "SE", TypeMobile}},
		{"SE dots", "+46.70.123.45.67", Number{"+46701234567", "46", "SE", TypeMobile}},
		{"SE surrounding blanks and tab", " \t+46 70 123 45 67 ", Number{"+46701234567", "46", "SE", TypeMobile}},
		{"NANP parenthesised plus", "(+1) 201 555 0100", Number{"+12015550100", "1", "US", TypeUnknown}},
		{"NANP parenthesised area code", "+1 (201) 555-0100", Number{"+12015550100", "1", "US", TypeUnknown}},
		{"canonical", "+33612345678", Number{"+33612345678", "33", "FR", TypeMobile}},
		{"trunk zero dropped", "+44 (0)20 7946 0958", Number{"+442079460958", "44", "GB", TypeFixed}},
		{"trunk zero dropped after 00", "0046 (0)70-123 45 67", Number{"+46701234567", "46", "SE", TypeMobile}},
		{"trunk zero kept in Italy", "+39 (0)6 1234 5678", Number{"+390612345678", "39", "IT", TypeFixed}},
		{"zero in parentheses elsewhere kept", "+46 8 (0)12 345 67", Number{"+46801234567", "46", "SE", TypeFixed}},
		{"trunk zero at 15 digits", "+49 (0)1234 5678 9012 3", Number{"+491234567890123", "49", "DE", TypeOther}},

		// Sweden.
		{"SE fixed Stockholm", "+46 8 123 456 78", Number{"+46812345678", "46", "SE", TypeFixed}},
		{"SE mobile 79", "+46 79 123 45 67", Number{"+46791234567", "46", "SE", TypeMobile}},
		{"SE freephone", "+46 20 123 456", Number{"+4620123456", "46", "SE", TypeOther}},
		{"SE premium", "+46 900 123 4567", Number{"+469001234567", "46", "SE", TypeOther}},
		{"SE Umeå", "+46 90 12 34 56", Number{"+4690123456", "46", "SE", TypeFixed}},

		// United Kingdom and Crown Dependencies.
		{"GB mobile", "+44 7400 123456", Number{"+447400123456", "44", "GB", TypeMobile}},
		{"GB drama mobile", "+44 7700 900123", Number{"+447700900123", "44", "GB", TypeMobile}},
		{"GB fixed London", "+44 20 7946 0958", Number{"+442079460958", "44", "GB", TypeFixed}},
		{"GB freephone", "+44 800 123 4567", Number{"+448001234567", "44", "GB", TypeOther}},
		{"GB pager", "+44 7640 123456", Number{"+447640123456", "44", "GB", TypeOther}},
		{"GG fixed", "+44 1481 123456", Number{"+441481123456", "44", "GG", TypeFixed}},
		{"GG mobile", "+44 7781 123456", Number{"+447781123456", "44", "GG", TypeMobile}},
		{"GG mobile 79111", "+44 7911 123456", Number{"+447911123456", "44", "GG", TypeMobile}},
		{"JE mobile", "+44 7797 123456", Number{"+447797123456", "44", "JE", TypeMobile}},
		{"JE fixed", "+44 1534 123456", Number{"+441534123456", "44", "JE", TypeFixed}},
		{"IM mobile", "+44 7624 123456", Number{"+447624123456", "44", "IM", TypeMobile}},
		{"IM fixed", "+44 1624 123456", Number{"+441624123456", "44", "IM", TypeFixed}},

		// Germany.
		{"DE mobile", "+49 151 23456789", Number{"+4915123456789", "49", "DE", TypeMobile}},
		{"DE fixed Berlin", "+49 30 1234567", Number{"+49301234567", "49", "DE", TypeFixed}},
		{"DE freephone", "+49 800 1234567", Number{"+498001234567", "49", "DE", TypeOther}},
		{"DE pager", "+49 168 1234567", Number{"+491681234567", "49", "DE", TypeOther}},

		// France, Spain, Italy, Vatican.
		{"FR mobile", "+33 6 12 34 56 78", Number{"+33612345678", "33", "FR", TypeMobile}},
		{"FR mobile 7", "+33 7 12 34 56 78", Number{"+33712345678", "33", "FR", TypeMobile}},
		{"FR fixed Paris", "+33 1 23 45 67 89", Number{"+33123456789", "33", "FR", TypeFixed}},
		{"FR special", "+33 8 00 12 34 56", Number{"+33800123456", "33", "FR", TypeOther}},
		{"ES mobile", "+34 612 345 678", Number{"+34612345678", "34", "ES", TypeMobile}},
		{"ES mobile 7", "+34 712 345 678", Number{"+34712345678", "34", "ES", TypeMobile}},
		{"ES fixed Madrid", "+34 912 345 678", Number{"+34912345678", "34", "ES", TypeFixed}},
		{"ES freephone", "+34 900 123 456", Number{"+34900123456", "34", "ES", TypeOther}},
		{"IT mobile", "+39 312 345 6789", Number{"+393123456789", "39", "IT", TypeMobile}},
		{"IT fixed Rome", "+39 06 1234 5678", Number{"+390612345678", "39", "IT", TypeFixed}},
		{"IT freephone", "+39 800 123 456", Number{"+39800123456", "39", "IT", TypeOther}},
		{"VA fixed", "+39 06 698 12345", Number{"+390669812345", "39", "VA", TypeFixed}},

		// Netherlands, Norway, Svalbard, Denmark.
		{"NL mobile", "+31 6 12345678", Number{"+31612345678", "31", "NL", TypeMobile}},
		{"NL fixed Amsterdam", "+31 20 123 4567", Number{"+31201234567", "31", "NL", TypeFixed}},
		{"NL pager", "+31 66 1234567", Number{"+31661234567", "31", "NL", TypeOther}},
		{"NO mobile 4", "+47 412 34 567", Number{"+4741234567", "47", "NO", TypeMobile}},
		{"NO mobile 9", "+47 912 34 567", Number{"+4791234567", "47", "NO", TypeMobile}},
		{"NO fixed Oslo", "+47 22 12 34 56", Number{"+4722123456", "47", "NO", TypeFixed}},
		{"NO freephone", "+47 800 12 345", Number{"+4780012345", "47", "NO", TypeOther}},
		{"SJ fixed", "+47 79 02 12 34", Number{"+4779021234", "47", "SJ", TypeFixed}},
		{"DK mobile", "+45 20 12 34 56", Number{"+4520123456", "45", "DK", TypeMobile}},
		{"DK fixed Copenhagen", "+45 33 12 34 56", Number{"+4533123456", "45", "DK", TypeFixed}},
		{"DK freephone", "+45 80 12 34 56", Number{"+4580123456", "45", "DK", TypeOther}},
		{"DK unallocated series", "+45 82 12 34 56", Number{"+4582123456", "45", "DK", TypeUnknown}},

		// Finland, Åland, Poland.
		{"FI mobile", "+358 40 123 4567", Number{"+358401234567", "358", "FI", TypeMobile}},
		{"FI mobile 50", "+358 50 123 4567", Number{"+358501234567", "358", "FI", TypeMobile}},
		{"FI fixed Helsinki", "+358 9 123 4567", Number{"+35891234567", "358", "FI", TypeFixed}},
		{"FI national service", "+358 20 123 4567", Number{"+358201234567", "358", "FI", TypeOther}},
		{"AX fixed", "+358 18 12345", Number{"+3581812345", "358", "AX", TypeFixed}},
		{"PL mobile", "+48 512 345 678", Number{"+48512345678", "48", "PL", TypeMobile}},
		{"PL fixed Warsaw", "+48 22 123 45 67", Number{"+48221234567", "48", "PL", TypeFixed}},
		{"PL freephone", "+48 800 123 456", Number{"+48800123456", "48", "PL", TypeOther}},

		// Brazil, India, Australia and its territories.
		{"BR mobile", "+55 11 91234 5678", Number{"+5511912345678", "55", "BR", TypeMobile}},
		{"BR fixed", "+55 11 2345 6789", Number{"+551123456789", "55", "BR", TypeFixed}},
		{"BR unknown shape", "+55 11 8765 4321", Number{"+551187654321", "55", "BR", TypeUnknown}},
		{"IN mobile", "+91 98765 43210", Number{"+919876543210", "91", "IN", TypeMobile}},
		{"IN fixed Delhi", "+91 11 2345 6789", Number{"+911123456789", "91", "IN", TypeFixed}},
		{"IN ambiguous 7 series", "+91 70123 45678", Number{"+917012345678", "91", "IN", TypeUnknown}},
		{"IN ambiguous Bengaluru", "+91 80 2345 6789", Number{"+918023456789", "91", "IN", TypeUnknown}},
		{"IN freephone", "+91 1800 123 456", Number{"+911800123456", "91", "IN", TypeOther}},
		{"AU mobile", "+61 412 345 678", Number{"+61412345678", "61", "AU", TypeMobile}},
		{"AU fixed Sydney", "+61 2 9876 5432", Number{"+61298765432", "61", "AU", TypeFixed}},
		{"AU 1300", "+61 1300 123 456", Number{"+611300123456", "61", "AU", TypeOther}},
		{"CX fixed", "+61 8 9164 1234", Number{"+61891641234", "61", "CX", TypeFixed}},
		{"CC fixed", "+61 8 9162 1234", Number{"+61891621234", "61", "CC", TypeFixed}},

		// NANP.
		{"US geographic", "+1 212 555 0100", Number{"+12125550100", "1", "US", TypeUnknown}},
		{"US toll-free", "+1 800 555 0100", Number{"+18005550100", "1", "US", TypeOther}},
		{"US toll-free 833", "+1 833 555 0100", Number{"+18335550100", "1", "US", TypeOther}},
		{"US premium", "+1 900 555 0100", Number{"+19005550100", "1", "US", TypeOther}},
		{"CA Toronto", "+1 416 555 0100", Number{"+14165550100", "1", "CA", TypeUnknown}},
		{"CA Vancouver", "+1 604 555 0100", Number{"+16045550100", "1", "CA", TypeUnknown}},
		{"CA non-geographic", "+1 600 555 0100", Number{"+16005550100", "1", "CA", TypeOther}},
		{"JM", "+1 876 555 0100", Number{"+18765550100", "1", "JM", TypeUnknown}},
		{"JM overlay", "+1 658 555 0100", Number{"+16585550100", "1", "JM", TypeUnknown}},
		{"PR", "+1 787 555 0100", Number{"+17875550100", "1", "PR", TypeUnknown}},
		{"PR overlay", "+1 939 555 0100", Number{"+19395550100", "1", "PR", TypeUnknown}},
		{"DO 849", "+1 849 555 0100", Number{"+18495550100", "1", "DO", TypeUnknown}},
		{"BS", "+1 242 555 0100", Number{"+12425550100", "1", "BS", TypeUnknown}},
		{"TT", "+1 868 555 0100", Number{"+18685550100", "1", "TT", TypeUnknown}},
		{"SX", "+1 721 555 0100", Number{"+17215550100", "1", "SX", TypeUnknown}},
		{"GU", "+1 671 555 0100", Number{"+16715550100", "1", "GU", TypeUnknown}},
		{"AS", "+1 684 555 0100", Number{"+16845550100", "1", "AS", TypeUnknown}},
		{"VI", "+1 340 555 0100", Number{"+13405550100", "1", "VI", TypeUnknown}},

		// +7 split.
		{"RU mobile", "+7 912 345 67 89", Number{"+79123456789", "7", "RU", TypeMobile}},
		{"RU fixed Moscow", "+7 495 123 45 67", Number{"+74951234567", "7", "RU", TypeFixed}},
		{"RU freephone", "+7 800 123 45 67", Number{"+78001234567", "7", "RU", TypeOther}},
		{"KZ mobile", "+7 701 123 4567", Number{"+77011234567", "7", "KZ", TypeMobile}},
		{"KZ fixed Almaty", "+7 727 123 4567", Number{"+77271234567", "7", "KZ", TypeFixed}},
		{"KZ 6xx", "+7 612 123 4567", Number{"+76121234567", "7", "KZ", TypeUnknown}},

		// Other shared codes.
		{"RE", "+262 262 12 34 56", Number{"+262262123456", "262", "RE", TypeUnknown}},
		{"YT mobile block", "+262 639 12 34 56", Number{"+262639123456", "262", "YT", TypeUnknown}},
		{"CW", "+599 9 123 4567", Number{"+59991234567", "599", "CW", TypeUnknown}},
		{"BQ Bonaire", "+599 717 1234", Number{"+5997171234", "599", "BQ", TypeUnknown}},
		{"EH", "+212 528 812 345", Number{"+212528812345", "212", "EH", TypeUnknown}},
		{"MA", "+212 522 123 456", Number{"+212522123456", "212", "MA", TypeUnknown}},
		{"NF", "+672 3 12345", Number{"+672312345", "672", "NF", TypeUnknown}},
		{"GP shared with BL MF", "+590 590 12 34 56", Number{"+590590123456", "590", "GP", TypeUnknown}},
		{"XK", "+383 44 123 456", Number{"+38344123456", "383", "XK", TypeUnknown}},

		// More countries with type data, and countries without it.
		{"CH mobile", "+41 79 123 45 67", Number{"+41791234567", "41", "CH", TypeMobile}},
		{"CH fixed Zurich", "+41 44 123 45 67", Number{"+41441234567", "41", "CH", TypeFixed}},
		{"BE mobile", "+32 470 12 34 56", Number{"+32470123456", "32", "BE", TypeMobile}},
		{"BE fixed Brussels", "+32 2 123 45 67", Number{"+3221234567", "32", "BE", TypeFixed}},
		{"IE mobile", "+353 87 123 4567", Number{"+353871234567", "353", "IE", TypeMobile}},
		{"PT mobile", "+351 912 345 678", Number{"+351912345678", "351", "PT", TypeMobile}},
		{"CN mobile", "+86 138 0013 8000", Number{"+8613800138000", "86", "CN", TypeMobile}},
		{"CN fixed Beijing", "+86 10 1234 5678", Number{"+861012345678", "86", "CN", TypeFixed}},
		{"JP mobile", "+81 90 1234 5678", Number{"+819012345678", "81", "JP", TypeMobile}},
		{"JP fixed Tokyo", "+81 3 1234 5678", Number{"+81312345678", "81", "JP", TypeFixed}},
		{"SG mobile", "+65 9123 4567", Number{"+6591234567", "65", "SG", TypeMobile}},
		{"EG unknown type", "+20 10 1234 5678", Number{"+201012345678", "20", "EG", TypeUnknown}},
		{"MX unknown type", "+52 55 1234 5678", Number{"+525512345678", "52", "MX", TypeUnknown}},
		{"ZA unknown type", "+27 82 123 4567", Number{"+27821234567", "27", "ZA", TypeUnknown}},

		// Short plans and global services.
		{"SH 4-digit number", "+290 1234", Number{"+2901234", "290", "SH", TypeUnknown}},
		{"Ascension reported as SH", "+247 6123", Number{"+2476123", "247", "SH", TypeUnknown}},
		{"NU", "+683 4002", Number{"+6834002", "683", "NU", TypeUnknown}},
		{"international freephone", "+800 1234 5678", Number{"+80012345678", "800", "", TypeOther}},
		{"Inmarsat", "+870 773 123 456", Number{"+870773123456", "870", "", TypeOther}},
		{"international networks", "+882 1234 5678", Number{"+88212345678", "882", "", TypeOther}},
		{"15 digits", "+49 1234 5678 9012 3", Number{"+491234567890123", "49", "DE", TypeOther}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.True(t, Valid(got.E164))
		})
	}
}

func TestParseErrors(t *testing.T) {
	long := "+46 " + strings.Repeat("1", 70)
	tests := []struct {
		name, in string
		is       error
		msg      string
	}{
		{"letters", "abc", ErrNotNumber, `e164: "abc": not a phone number`},
		{"empty", "", ErrNotNumber, `e164: "": not a phone number`},
		{"plus only", "+", ErrNotNumber, `e164: "+": not a phone number`},
		{"separators only", "( - )", ErrNotNumber, `e164: "( - )": not a phone number`},
		{"00 only", "00", ErrNotNumber, `e164: "00": not a phone number`},
		{"extension", "+46 70 123 45 67 ext 1", ErrNotNumber, `e164: "+46 70 123 45 67 ext 1": not a phone number`},
		{"tel URI", "tel:+46701234567", ErrNotNumber, `e164: "tel:+46701234567": not a phone number`},
		{"slash", "+46/701234567", ErrNotNumber, `e164: "+46/701234567": not a phone number`},
		{"fullwidth digit", "+4670123456７", ErrNotNumber, `e164: "+4670123456７": not a phone number`},
		{"plus inside", "46+701234567", ErrNotNumber, `e164: "46+701234567": not a phone number: misplaced "+"`},
		{"double plus", "++46701234567", ErrNotNumber, `e164: "++46701234567": not a phone number: misplaced "+"`},
		{"national format", "070-123 45 67", ErrNoCallingCode, `e164: "070-123 45 67": missing country calling code (want +<code> or 00<code>)`},
		{"digits without plus", "46701234567", ErrNoCallingCode, `e164: "46701234567": missing country calling code (want +<code> or 00<code>)`},
		{"single zero", "0", ErrNoCallingCode, `e164: "0": missing country calling code (want +<code> or 00<code>)`},
		{"unassigned code", "+999123", ErrUnknownCallingCode, `e164: "+999123": unknown country calling code`},
		{"unassigned 3-digit code", "+384 12 345 678", ErrUnknownCallingCode, `e164: "+384 12 345 678": unknown country calling code`},
		{"former Guam code", "+671 123 4567", ErrUnknownCallingCode, `e164: "+671 123 4567": unknown country calling code`},
		{"plus zero", "+0046701234567", ErrUnknownCallingCode, `e164: "+0046701234567": unknown country calling code`},
		{"000 prefix", "000046701234567", ErrUnknownCallingCode, `e164: "000046701234567": unknown country calling code`},
		{"short", "+46 70", ErrTooShort, `e164: "+46 70": too short`},
		{"short 7 digits", "+46 12345", ErrTooShort, `e164: "+46 12345": too short`},
		{"short plan below 7", "+290 123", ErrTooShort, `e164: "+290 123": too short`},
		{"16 digits", "+46 7012345678901 2", ErrTooLong, `e164: "+46 7012345678901 2": too long`},
		{"00 and 16 digits", "00 46 7012345678901 2", ErrTooLong, `e164: "00 46 7012345678901 2": too long`},
		{"over-long input", long, ErrTooLong, `e164: "+46 111111111111111111111111111111111111...": too long`},
		{"NANP short", "+1 201 555 010", ErrTooShort, `e164: "+1 201 555 010": too short: +1 numbers have 10 digits after the calling code`},
		{"NANP long", "+1 201 555 01000", ErrTooLong, `e164: "+1 201 555 01000": too long: +1 numbers have 10 digits after the calling code`},
		{"NANP area code 1", "+1 123 555 0100", ErrNotNumber, `e164: "+1 123 555 0100": not a phone number: NANP area code must not start with 0 or 1`},
		{"NANP exchange 0", "+1 201 055 0100", ErrNotNumber, `e164: "+1 201 055 0100": not a phone number: NANP exchange code must not start with 0 or 1`},
		{"RU short", "+7 912 345 67 8", ErrTooShort, `e164: "+7 912 345 67 8": too short: +7 numbers have 10 digits after the calling code`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			require.ErrorIs(t, err, tt.is)
			require.EqualError(t, err, tt.msg)
		})
	}
}

func TestValid(t *testing.T) {
	for _, s := range []string{"+46701234567", "+12", "+123456789012345", "+80012345678"} {
		require.True(t, Valid(s), s)
	}
	for _, s := range []string{"", "+", "+1", "46701234567", "+0123", "+1234567890123456", "+46 70", "+46-70", "++46", "+4670123456a", "+４６"} {
		require.False(t, Valid(s), s)
	}
}

func TestTypeString(t *testing.T) {
	require.Equal(t, "Unknown", TypeUnknown.String())
	require.Equal(t, "Fixed", TypeFixed.String())
	require.Equal(t, "Mobile", TypeMobile.String())
	require.Equal(t, "Other", TypeOther.String())
	require.Equal(t, "Unknown", Type(42).String())

	b, err := json.Marshal(Number{E164: "+46701234567", CallingCode: "46", Country: "SE", Type: TypeMobile})
	require.NoError(t, err)
	require.JSONEq(t, `{"E164":"+46701234567","CallingCode":"46","Country":"SE","Type":"Mobile"}`, string(b))
}

func TestNationalNumber(t *testing.T) {
	n, err := Parse("+46 70 123 45 67")
	require.NoError(t, err)
	require.Equal(t, "701234567", n.NationalNumber())
	require.Empty(t, Number{}.NationalNumber())
}

// TestTables checks the invariants the lookup code relies on.
func TestTables(t *testing.T) {
	isDigits := func(s string) bool {
		for _, c := range s {
			if c < '0' || c > '9' {
				return false
			}
		}
		return s != ""
	}
	isCountry := func(s string) bool {
		return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
	}
	countries := map[string]bool{}

	for cc, country := range callingCodes {
		require.True(t, isDigits(cc) && len(cc) <= 3 && cc[0] != '0', "calling code %q", cc)
		require.True(t, country == "" || isCountry(country), "country %q of +%s", country, cc)
		countries[country] = true
		// E.164 calling codes are prefix-free: lookupCallingCode relies on it.
		for n := 1; n < len(cc); n++ {
			_, clash := callingCodes[cc[:n]]
			require.False(t, clash, "+%s is a prefix of +%s", cc[:n], cc)
		}
	}
	for key, country := range regionPrefixes {
		require.True(t, isDigits(key) && len(key) <= maxRegionPrefix, "region prefix %q", key)
		require.True(t, isCountry(country), "region prefix %q: country %q", key, country)
		n, _, ok := lookupCallingCode([]byte(key))
		require.True(t, ok, "region prefix %q has no calling code", key)
		require.Greater(t, len(key), n, "region prefix %q is only a calling code", key)
		countries[country] = true
		if key[0] == '1' {
			require.Len(t, key, 4, "NANP prefix %q is not 1+NPA", key)
			require.GreaterOrEqual(t, key[1], byte('2'), "NANP prefix %q", key)
		}
	}
	for country, table := range typePrefixes {
		require.True(t, countries[country], "type table for %q, which no number maps to", country)
		for prefix := range table {
			require.True(t, isDigits(prefix) && len(prefix) <= maxTypePrefix, "%s type prefix %q", country, prefix)
		}
	}
	for cc := range shortPlans {
		require.Contains(t, callingCodes, cc)
	}
	for cc := range fixedLength {
		require.Contains(t, callingCodes, cc)
	}
	// Every country the brief asks mobile detection for has a table.
	for _, c := range []string{"SE", "GB", "DE", "FR", "ES", "IT", "NL", "NO", "DK", "FI", "PL", "IN", "AU"} {
		require.Contains(t, typePrefixes, c)
	}
}

func TestParseErrorsAreSentinels(t *testing.T) {
	sentinels := []error{ErrNotNumber, ErrNoCallingCode, ErrUnknownCallingCode, ErrTooShort, ErrTooLong}
	for _, in := range []string{"x", "0701234567", "+999", "+46", "+4670123456789012"} {
		_, err := Parse(in)
		require.Error(t, err)
		matched := 0
		for _, s := range sentinels {
			if errors.Is(err, s) {
				matched++
			}
		}
		require.Equal(t, 1, matched, "%q: %v", in, err)
	}
}

func BenchmarkParse(b *testing.B) {
	inputs := []string{"+46701234567", "+46 70-123 45 67", "(+1) 201 555 0100", "0044 7911 123456", "+7 701 123 4567"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := Parse(inputs[i%len(inputs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
