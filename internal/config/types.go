package config

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// redacted is what a Secret prints instead of its value.
const redacted = "<secret>"

// Secret is a credential read from the configuration (an application
// secret, a Redis URL that may carry a password). Every way of printing or
// encoding it — fmt verbs including %#v, log/slog, JSON, YAML and text
// marshalling — yields "<secret>". Call Reveal where the value is needed.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String returns "<secret>".
func (Secret) String() string { return redacted }

// GoString returns "<secret>", for %#v.
func (Secret) GoString() string { return redacted }

// Format writes "<secret>" for every fmt verb, so that neither %x nor a
// bad verb can reveal the value.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalYAML implements yaml.Marshaler.
func (Secret) MarshalYAML() (any, error) { return redacted, nil }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(redacted)), nil }

// MarshalText implements encoding.TextMarshaler.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Duration is time.Duration, so that a field passes straight to time-based
// APIs. In YAML it is a Go duration string such as "10m" or "90s".
type Duration = time.Duration

// ByteSize is a size in bytes. In YAML it is a whole number of bytes
// ("1048576"), optionally with the suffix B, KiB, MiB or GiB ("512KiB",
// "1 MiB"). Decimal units (KB, MB) are rejected as ambiguous.
type ByteSize int64

// Binary byte-size units.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
)

// UnmarshalText parses a byte size.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	var unit ByteSize
	switch strings.TrimSpace(s[i:]) {
	case "", "B":
		unit = 1
	case "KiB":
		unit = KiB
	case "MiB":
		unit = MiB
	case "GiB":
		unit = GiB
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if i == 0 || unit == 0 || err != nil || n > math.MaxInt64/int64(unit) {
		return fmt.Errorf("invalid byte size %s (want a whole number of bytes, optionally with B, KiB, MiB or GiB)", quote(s))
	}
	*b = ByteSize(n) * unit
	return nil
}

// MarshalText formats the size as String does.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// String formats the size with the largest binary unit that divides it,
// e.g. "1MiB", "1536KiB" or "1000B".
func (b ByteSize) String() string {
	switch {
	case b != 0 && b%GiB == 0:
		return strconv.FormatInt(int64(b/GiB), 10) + "GiB"
	case b != 0 && b%MiB == 0:
		return strconv.FormatInt(int64(b/MiB), 10) + "MiB"
	case b != 0 && b%KiB == 0:
		return strconv.FormatInt(int64(b/KiB), 10) + "KiB"
	default:
		return strconv.FormatInt(int64(b), 10) + "B"
	}
}

// PortRange is an inclusive range of UDP ports. In YAML it is "MIN-MAX",
// e.g. "20000-20999".
type PortRange struct {
	Min int // first port, even (RTP uses the even port of a pair)
	Max int // last port, inclusive
}

// UnmarshalText parses "MIN-MAX". The bounds are checked by validation.
func (r *PortRange) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	lo, hi, ok := strings.Cut(s, "-")
	minPort, err1 := parsePort(lo)
	maxPort, err2 := parsePort(hi)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("invalid port range %s (want MIN-MAX, e.g. 20000-20999)", quote(s))
	}
	*r = PortRange{Min: minPort, Max: maxPort}
	return nil
}

// MarshalText formats the range as "MIN-MAX".
func (r PortRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// String formats the range as "MIN-MAX".
func (r PortRange) String() string { return strconv.Itoa(r.Min) + "-" + strconv.Itoa(r.Max) }

// Len returns the number of ports in the range.
func (r PortRange) Len() int { return r.Max - r.Min + 1 }

// Contains reports whether port is in the range.
func (r PortRange) Contains(port int) bool { return port >= r.Min && port <= r.Max }

// parsePort parses 1 to 5 decimal digits into 0-65535.
func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 {
		return 0, strconv.ErrSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 65535 {
		return 0, strconv.ErrRange
	}
	return n, nil
}

// quote quotes a value for an error message, cut to a readable length.
func quote(s string) string {
	const maxLen = 64
	if len(s) > maxLen {
		return strconv.Quote(s[:maxLen]) + "..."
	}
	return strconv.Quote(s)
}
