package e164

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"+46701234567", "+46 70-123 45 67", "0046701234567", "(+1) 201 555 0100",
		"+1 800 555 0100", "+7 701 123 4567", "+44 7624 123456", "+39 06 698 12345",
		"+290 1234", "+800 1234 5678", "+5511912345678", "abc", "", "+", "00", "++1",
		"+999123", "+1 123 555 0100", "+4670123456789012", "070-123 45 67", "+0046",
	} {
		f.Add(s)
	}
	sentinels := []error{ErrNotNumber, ErrNoCallingCode, ErrUnknownCallingCode, ErrTooShort, ErrTooLong}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "e164: ") {
				t.Fatalf("Parse(%q): error %q lacks the package prefix", s, err)
			}
			for _, sentinel := range sentinels {
				if errors.Is(err, sentinel) {
					return
				}
			}
			t.Fatalf("Parse(%q): error %v wraps no sentinel", s, err)
		}
		if !Valid(n.E164) {
			t.Fatalf("Parse(%q) = %+v: E164 is not Valid", s, n)
		}
		if !strings.HasPrefix(n.E164, "+"+n.CallingCode) || n.CallingCode == "" || len(n.CallingCode) > 3 {
			t.Fatalf("Parse(%q) = %+v: calling code does not prefix the number", s, n)
		}
		again, err := Parse(n.E164)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, but re-parsing it fails: %v", s, n, err)
		}
		if again != n {
			t.Fatalf("Parse(%q) = %+v, re-parse gives %+v", s, n, again)
		}
	})
}
