package storeutil

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/callcore/callcore/internal/store"
)

// MaxAttempts bounds the attempts of an optimistic update before it gives up
// with store.ErrConflict.
const MaxAttempts = 32

// Backoff bounds between attempts: the wait before attempt n (n ≥ 1 lost
// races) is uniform in [0, min(maxBackoff, baseBackoff·2ⁿ)).
const (
	baseBackoff = 100 * time.Microsecond
	maxBackoff  = 10 * time.Millisecond
)

// Backoff waits before the next attempt after lost races (≥ 1) and returns
// ctx's error if ctx ends first.
func Backoff(ctx context.Context, lost int) error {
	limit := maxBackoff
	if lost < 8 {
		limit = min(maxBackoff, baseBackoff<<lost)
	}
	d := rand.N(limit) + 1
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ValidCapability reports whether c is store.CapabilityVoice or
// store.CapabilitySMS.
func ValidCapability(c string) bool {
	return c == store.CapabilityVoice || c == store.CapabilitySMS
}

// CheckAssign validates the arguments of Store.AssignNumbers.
func CheckAssign(appKey, capability string, numbers []string) error {
	if appKey == "" {
		return fmt.Errorf("assign numbers: empty application key: %w", store.ErrInvalid)
	}
	if !ValidCapability(capability) {
		return fmt.Errorf("assign numbers: capability %q is not voice or sms: %w", capability, store.ErrInvalid)
	}
	if len(numbers) == 0 {
		return fmt.Errorf("assign numbers: no numbers: %w", store.ErrInvalid)
	}
	for i, n := range numbers {
		if n == "" {
			return fmt.Errorf("assign numbers: number %d is empty: %w", i, store.ErrInvalid)
		}
	}
	return nil
}

// CheckUnassign validates the arguments of Store.UnassignNumber.
func CheckUnassign(appKey, capability, number string) error {
	if appKey == "" {
		return fmt.Errorf("unassign number: empty application key: %w", store.ErrInvalid)
	}
	if capability != "" && !ValidCapability(capability) {
		return fmt.Errorf("unassign number: capability %q is not voice or sms: %w", capability, store.ErrInvalid)
	}
	if number == "" {
		return fmt.Errorf("unassign number: empty number: %w", store.ErrInvalid)
	}
	return nil
}

// CheckNonEmpty returns a store.ErrInvalid error naming op and what when v is
// empty.
func CheckNonEmpty(op, what, v string) error {
	if v == "" {
		return fmt.Errorf("%s: empty %s: %w", op, what, store.ErrInvalid)
	}
	return nil
}

// CheckTTL returns a store.ErrInvalid error naming op unless ttl > 0.
func CheckTTL(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%s: ttl %v is not positive: %w", op, ttl, store.ErrInvalid)
	}
	return nil
}

// CloneData copies b, returning nil for an empty b.
func CloneData(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// CloneRecord deep-copies rec.
func CloneRecord(rec store.CallRecord) store.CallRecord {
	rec.Data = CloneData(rec.Data)
	return rec
}

// Unassignable reports whether cur (found is false when the number is not in
// the inventory) may be unassigned by appKey with capability ("" = any).
func Unassignable(cur store.Number, found bool, appKey, capability string) bool {
	return found && cur.AppKey == appKey && (capability == "" || cur.Capability == capability)
}

// TakenBy reports whether cur (found is false when the number is not in the
// inventory) is held by an application other than appKey.
func TakenBy(cur store.Number, found bool, appKey string) bool {
	return found && cur.AppKey != "" && cur.AppKey != appKey
}

// Taken returns the store.ErrNumberTaken error for number.
func Taken(number string) error {
	return fmt.Errorf("assign number %s: %w", number, store.ErrNumberTaken)
}
