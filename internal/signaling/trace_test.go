package signaling

import (
	"os"

	"github.com/emiago/sipgo/sip"
)

// SIPTRACE=1 go test ./internal/signaling prints every SIP message sent and
// received (sipgo's package-level tracer). Off by default.
func init() {
	if os.Getenv("SIPTRACE") != "" {
		sip.SIPDebug = true
	}
}
