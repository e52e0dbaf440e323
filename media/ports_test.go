package media

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPortAllocatorEvenPortsAndExhaustion(t *testing.T) {
	a, err := NewPortAllocator(10001, 10008, 0)
	require.NoError(t, err)
	// Even ports with their RTCP port inside the range: 10002, 10004, 10006.
	var got []int
	for range 3 {
		p, err := a.Acquire()
		require.NoError(t, err)
		got = append(got, p)
	}
	require.Equal(t, []int{10002, 10004, 10006}, got)
	_, err = a.Acquire()
	require.ErrorIs(t, err, ErrNoPorts)
	require.Contains(t, err.Error(), "10001-10008")
	require.Equal(t, 3, a.InUse())
	require.Equal(t, 0, a.Available())
}

func TestPortAllocatorQuarantine(t *testing.T) {
	a, err := NewPortAllocator(20000, 20003, time.Second)
	require.NoError(t, err)
	now := time.Unix(1000, 0)
	a.now = func() time.Time { return now }
	p1, err := a.Acquire()
	require.NoError(t, err)
	p2, err := a.Acquire()
	require.NoError(t, err)
	require.Equal(t, []int{20000, 20002}, []int{p1, p2})

	a.Release(p1)
	a.Release(p1) // double release is ignored
	_, err = a.Acquire()
	require.ErrorIs(t, err, ErrNoPorts, "a quarantined port is not reused")

	now = now.Add(999 * time.Millisecond)
	require.Equal(t, 0, a.Available())
	now = now.Add(time.Millisecond)
	require.Equal(t, 1, a.Available())
	p, err := a.Acquire()
	require.NoError(t, err)
	require.Equal(t, p1, p)
}

func TestPortAllocatorFIFOReuse(t *testing.T) {
	a, err := NewPortAllocator(30000, 30009, 0)
	require.NoError(t, err)
	p1, _ := a.Acquire() // 30000
	a.Release(p1)
	p2, err := a.Acquire()
	require.NoError(t, err)
	require.Equal(t, 30002, p2, "a released port goes to the back of the queue")
}

func TestPortAllocatorInvalid(t *testing.T) {
	for _, r := range [][2]int{{0, 100}, {100, 70000}, {200, 100}, {101, 101}, {100, 100}} {
		_, err := NewPortAllocator(r[0], r[1], 0)
		require.Error(t, err, "%v", r)
	}
	_, err := NewPortAllocator(100, 200, -time.Second)
	require.Error(t, err)
}
