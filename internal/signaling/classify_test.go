package signaling

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	ev "github.com/callcore/callcore/events"
)

func TestClassify(t *testing.T) {
	rows := []struct {
		code           int
		result, reason string
	}{
		// One row per classTable entry.
		{402, ev.ResultFailed, ev.ReasonNoCreditPartner},
		{403, ev.ResultFailed, ev.ReasonBlocked},
		{404, ev.ResultFailed, ev.ReasonUserNotFound},
		{410, ev.ResultFailed, ev.ReasonUserNotFound},
		{484, ev.ResultFailed, ev.ReasonUserNotFound},
		{604, ev.ResultFailed, ev.ReasonUserNotFound},
		{408, ev.ResultNoAnswer, ev.ReasonTimeout},
		{480, ev.ResultNoAnswer, ev.ReasonNoAnswer},
		{486, ev.ResultBusy, ev.ReasonBusy},
		{600, ev.ResultBusy, ev.ReasonBusy},
		{603, ev.ResultBusy, ev.ReasonBusy},
		{487, ev.ResultNoAnswer, ev.ReasonCancel},
		{503, ev.ResultFailed, ev.ReasonCongestion},
		{CodeRingTimeout, ev.ResultNoAnswer, ev.ReasonTimeout},
		{CodeNoResponse, ev.ResultFailed, ev.ReasonClientNetwork},
		{CodeTransportError, ev.ResultFailed, ev.ReasonClientNetwork},
		{CodeUserNotFound, ev.ResultFailed, ev.ReasonUserNotFound},
		{CodeAckTimeout, ev.ResultFailed, ev.ReasonClientNetwork},
		{CodeLocalCancel, ev.ResultNoAnswer, ev.ReasonCancel},
		// Class defaults.
		{0, ev.ResultNA, ev.ReasonNA},
		{100, ev.ResultNA, ev.ReasonNA},
		{183, ev.ResultNA, ev.ReasonNA},
		{200, ev.ResultAnswered, ev.ReasonNA},
		{202, ev.ResultAnswered, ev.ReasonNA},
		{302, ev.ResultFailed, ev.ReasonGeneralError},
		{400, ev.ResultFailed, ev.ReasonGeneralError},
		{401, ev.ResultFailed, ev.ReasonGeneralError},
		{407, ev.ResultFailed, ev.ReasonGeneralError},
		{488, ev.ResultFailed, ev.ReasonGeneralError},
		{500, ev.ResultFailed, ev.ReasonGeneralError},
		{502, ev.ResultFailed, ev.ReasonGeneralError},
		{504, ev.ResultFailed, ev.ReasonGeneralError},
		{606, ev.ResultFailed, ev.ReasonGeneralError},
		// Out of range.
		{700, ev.ResultFailed, ev.ReasonGeneralError},
		{-99, ev.ResultFailed, ev.ReasonGeneralError},
	}
	covered := map[int]bool{}
	for _, r := range rows {
		t.Run(strconv.Itoa(r.code), func(t *testing.T) {
			result, reason := Classify(r.code)
			assert.Equal(t, r.result, result)
			assert.Equal(t, r.reason, reason)
		})
		covered[r.code] = true
	}
	for code := range classTable {
		assert.True(t, covered[code], "classTable row %d has no test row", code)
	}
}

func TestDialErrorAndEndCause(t *testing.T) {
	de := newDialError(486, nil)
	assert.Equal(t, "signaling: dial failed: SIP 486 (result BUSY, reason BUSY)", de.Error())
	de = newDialError(CodeUserNotFound, ErrUserNotFound)
	require.ErrorIs(t, de, ErrUserNotFound)
	assert.Contains(t, de.Error(), "user not found")
	for c := EndUnknown; c <= EndShutdown; c++ {
		assert.NotContains(t, c.String(), "EndCause(")
	}
	assert.Equal(t, "EndCause(99)", EndCause(99).String())
	assert.True(t, EndRemoteReject.Remote())
	assert.False(t, EndLocalHangup.Remote())
	for _, k := range []EventKind{EventUnknown, EventOffer, EventAnswer, EventDTMF} {
		assert.NotEmpty(t, k.String())
	}
}
