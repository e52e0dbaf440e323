package call

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// legal lists every allowed edge once, written out independently of the
// edges map so that a change to one without the other fails.
var legal = []struct {
	from State
	in   Input
	to   State
}{
	{StateInitiated, InputICESent, StateAwaitingICE},
	{StateInitiated, InputReply, StateExecuting},
	{StateInitiated, InputDial, StateDialing},
	{StateInitiated, InputHangup, StateEnding},
	{StateAwaitingICE, InputReply, StateExecuting},
	{StateAwaitingICE, InputHangup, StateEnding},
	{StateExecuting, InputReply, StateExecuting},
	{StateExecuting, InputDial, StateDialing},
	{StateExecuting, InputConnected, StateConnected},
	{StateExecuting, InputPark, StateParked},
	{StateExecuting, InputICESent, StateAwaitingICE},
	{StateExecuting, InputHangup, StateEnding},
	{StateDialing, InputAnswered, StateAwaitingACE},
	{StateDialing, InputConnected, StateConnected},
	{StateDialing, InputReply, StateExecuting},
	{StateDialing, InputHangup, StateEnding},
	{StateAwaitingACE, InputReply, StateExecuting},
	{StateAwaitingACE, InputConnected, StateConnected},
	{StateAwaitingACE, InputHangup, StateEnding},
	{StateConnected, InputReply, StateExecuting},
	{StateConnected, InputHangup, StateEnding},
	{StateParked, InputReply, StateExecuting},
	{StateParked, InputHangup, StateEnding},
	{StateEnding, InputTornDown, StateEnded},
	{StateEnding, InputHangup, StateEnding},
}

func TestLegalTransitions(t *testing.T) {
	for _, e := range legal {
		got, err := next(e.from, e.in)
		require.NoError(t, err, "%s -(%s)->", e.from, e.in)
		require.Equal(t, e.to, got, "%s -(%s)->", e.from, e.in)
	}
}

func TestEveryOtherTransitionIsRefused(t *testing.T) {
	allowed := map[[2]int]bool{}
	for _, e := range legal {
		allowed[[2]int{int(e.from), int(e.in)}] = true
	}
	refused := 0
	for s := StateUnknown; s <= StateEnded; s++ {
		for in := InputUnknown; in <= InputTornDown; in++ {
			if allowed[[2]int{int(s), int(in)}] {
				continue
			}
			got, err := next(s, in)
			require.True(t, errors.Is(err, ErrInvalidTransition), "%s -(%s)-> must be refused", s, in)
			require.Equal(t, s, got, "a refused input leaves the state alone")
			refused++
		}
	}
	require.Equal(t, 10*9-len(legal), refused)
}

func TestEveryLiveStateCanBeHungUp(t *testing.T) {
	for s := StateInitiated; s < StateEnded; s++ {
		to, err := next(s, InputHangup)
		require.NoError(t, err, s.String())
		require.Equal(t, StateEnding, to)
	}
	_, err := next(StateEnded, InputHangup)
	require.Error(t, err, "an ended call stays ended")
}

func TestStateNames(t *testing.T) {
	for s := StateInitiated; s <= StateEnded; s++ {
		b, err := s.MarshalText()
		require.NoError(t, err)
		var back State
		require.NoError(t, back.UnmarshalText(b))
		require.Equal(t, s, back)
	}
	_, err := ParseState("unknown")
	require.Error(t, err)
	require.Equal(t, "state(42)", State(42).String())
	require.True(t, StateEnded.Terminal())
	require.False(t, StateEnded.Ongoing())
	require.True(t, StateParked.Ongoing())
}
