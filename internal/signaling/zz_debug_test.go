package signaling

import (
	"os"

	"github.com/emiago/sipgo/sip"
)

func init() {
	if os.Getenv("SIPTRACE") != "" {
		sip.SIPDebug = true
	}
}
