package store

import "errors"

// Sentinel errors returned, wrapped with context, by every Store
// implementation. Test for them with errors.Is.
var (
	// ErrNotFound means the number, callbacks or call record does not exist
	// (an expired call record does not exist), or, for UnassignNumber, that the
	// number is not assigned to the application.
	ErrNotFound = errors.New("not found")

	// ErrExists means CreateCall found a live record with the same ID.
	ErrExists = errors.New("already exists")

	// ErrConflict means an optimistic update kept losing the race against
	// concurrent writers and gave up after a bounded number of attempts.
	ErrConflict = errors.New("concurrent update conflict")

	// ErrNumberTaken means AssignNumbers was asked for a number that another
	// application holds. The wrapping error names the number.
	ErrNumberTaken = errors.New("number is assigned to another application")

	// ErrInvalid means an argument is unusable: an empty application key,
	// number or call ID, a capability other than "voice" or "sms", an empty
	// number list, a TTL that is not positive or a nil update function.
	ErrInvalid = errors.New("invalid argument")
)
