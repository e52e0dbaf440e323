package media

import (
	"fmt"
	"sync"
	"time"
)

// DefaultPortQuarantine is how long a released RTP port stays unused before
// it is handed out again, so that late packets of the old call do not reach
// a new one.
const DefaultPortQuarantine = 2 * time.Second

// PortAllocator hands out even RTP ports from an inclusive range. The odd
// port above each one is reserved for RTCP (RFC 3550 §11) and never handed
// out. Released ports are reused in FIFO order after a quarantine. It is safe
// for concurrent use.
type PortAllocator struct {
	mu         sync.Mutex
	min, max   int
	quarantine time.Duration
	now        func() time.Time

	free     []int // ring of free ports, FIFO
	freeHead int
	freeLen  int
	held     []heldPort // released ports in release order (FIFO)
	inUse    map[int]bool
}

type heldPort struct {
	port  int
	until time.Time
}

// NewPortAllocator returns an allocator over the even ports p with
// minPort <= p and p+1 <= maxPort. quarantine is how long a released port
// waits before reuse (0 reuses at once).
func NewPortAllocator(minPort, maxPort int, quarantine time.Duration) (*PortAllocator, error) {
	if minPort < 1 || maxPort > 65535 || minPort > maxPort {
		return nil, fmt.Errorf("media: invalid RTP port range %d-%d", minPort, maxPort)
	}
	if quarantine < 0 {
		return nil, fmt.Errorf("media: negative port quarantine %v", quarantine)
	}
	first := minPort + minPort%2
	if first+1 > maxPort {
		return nil, fmt.Errorf("media: RTP port range %d-%d holds no even port with its RTCP port", minPort, maxPort)
	}
	a := &PortAllocator{min: minPort, max: maxPort, quarantine: quarantine, now: time.Now, inUse: make(map[int]bool)}
	for p := first; p+1 <= maxPort; p += 2 {
		a.free = append(a.free, p)
	}
	a.freeLen = len(a.free)
	return a, nil
}

// Acquire returns a free even port, or an error wrapping ErrNoPorts when
// every port is in use or in quarantine.
func (a *PortAllocator) Acquire() (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reclaim()
	if a.freeLen == 0 {
		return 0, fmt.Errorf("%w (%d-%d: %d in use, %d in quarantine)", ErrNoPorts, a.min, a.max, len(a.inUse), len(a.held))
	}
	p := a.free[a.freeHead]
	a.freeHead = (a.freeHead + 1) % len(a.free)
	a.freeLen--
	a.inUse[p] = true
	return p, nil
}

// Release returns a port obtained from Acquire. It is reusable after the
// quarantine. Releasing a port that is not in use does nothing.
func (a *PortAllocator) Release(port int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.inUse[port] {
		return
	}
	delete(a.inUse, port)
	if a.quarantine == 0 {
		a.pushFree(port)
		return
	}
	a.held = append(a.held, heldPort{port: port, until: a.now().Add(a.quarantine)})
}

// Available returns how many ports Acquire could hand out now.
func (a *PortAllocator) Available() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reclaim()
	return a.freeLen
}

// InUse returns how many ports are acquired and not yet released.
func (a *PortAllocator) InUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.inUse)
}

// reclaim moves ports whose quarantine is over back to the free ring.
func (a *PortAllocator) reclaim() {
	if len(a.held) == 0 {
		return
	}
	now := a.now()
	n := 0
	for n < len(a.held) && !now.Before(a.held[n].until) {
		a.pushFree(a.held[n].port)
		n++
	}
	if n > 0 {
		a.held = append(a.held[:0], a.held[n:]...)
	}
}

func (a *PortAllocator) pushFree(p int) {
	a.free[(a.freeHead+a.freeLen)%len(a.free)] = p
	a.freeLen++
}
