package call

import (
	"time"

	"github.com/callcore/callcore/cookies"
	"github.com/callcore/callcore/events"
)

// Direction says how a call started.
type Direction string

// Directions, also metric label values.
const (
	DirectionInbound Direction = "inbound"
	DirectionCallout Direction = "callout"
)

// Snapshot is the persisted record of a call: what GET /calls/id/{id}
// answers on any node, and what a surviving node needs to finalize the call
// of a dead one. The owning actor is its only writer.
type Snapshot struct {
	ID        string             `json:"id"`
	Region    string             `json:"region"`
	Node      string             `json:"node"`
	AppKey    string             `json:"appKey"`
	Direction Direction          `json:"direction"`
	State     State              `json:"state"`
	From      events.Destination `json:"from"`
	To        events.Destination `json:"to"`
	Domain    string             `json:"domain"`
	Custom    string             `json:"custom,omitempty"`
	// ConferenceID is the room the call joined (connectConf); every
	// event after the join carries it.
	ConferenceID string      `json:"conferenceId,omitempty"`
	Cookies      cookies.Jar `json:"cookies"`
	Result       string      `json:"result"`
	Reason       string      `json:"reason"`
	Currency     string      `json:"currency"`
	// StartedAt is when the call was created; AnsweredAt when it was first
	// answered (zero if never); EndedAt when it ended (zero while ongoing).
	StartedAt  time.Time `json:"startedAt"`
	AnsweredAt time.Time `json:"answeredAt,omitzero"`
	EndedAt    time.Time `json:"endedAt,omitzero"`
	// What a surviving node needs to send the DiCE of a call whose node
	// died: where the call's events go, whether it sends a DiCE at all and
	// the ICE's call headers, which the DiCE repeats.
	Callback    CallbackRef       `json:"callback,omitzero"`
	WantDiCE    bool              `json:"wantDice,omitempty"`
	CallHeaders []events.KeyValue `json:"callHeaders,omitempty"`
}

// CallbackRef is the persisted part of a CallbackTarget (the app key is
// the snapshot's).
type CallbackRef struct {
	URL      string `json:"url,omitempty"`
	Fallback string `json:"fallback,omitempty"`
}

// Duration is the billable duration in whole seconds: from answer to end
// (or to now while ongoing); 0 if never answered.
func (s *Snapshot) Duration(now time.Time) int {
	if s.AnsweredAt.IsZero() {
		return 0
	}
	end := s.EndedAt
	if end.IsZero() {
		end = now
	}
	if end.Before(s.AnsweredAt) {
		return 0
	}
	return int(end.Sub(s.AnsweredAt) / time.Second)
}

// Status is ONGOING or FINAL.
func (s *Snapshot) Status() string {
	if s.State.Ongoing() {
		return events.StatusOngoing
	}
	return events.StatusFinal
}

// Info is the answer of GET /calling/v1/calls/id/{callId} (reference §2.3).
// timestamp and userRate are always present: the Python SDK reads them
// unconditionally.
type Info struct {
	From      events.Destination `json:"from"`
	To        events.Destination `json:"to"`
	Domain    string             `json:"domain"`
	CallID    string             `json:"callId"`
	Duration  int                `json:"duration"`
	Status    string             `json:"status"`
	Result    string             `json:"result"`
	Reason    string             `json:"reason"`
	Timestamp string             `json:"timestamp"`
	Custom    string             `json:"custom,omitempty"`
	UserRate  events.Money       `json:"userRate"`
	Debit     events.Money       `json:"debit"`
	// Cookies are the call's setCookie state, as in its events (a
	// callcore extension, like the events' cookies: SDKs ignore unknown
	// fields). Omitted while empty.
	Cookies []events.KeyValue `json:"cookies,omitempty"`
}

// Info renders the snapshot for the REST API at time now. callcore does
// not rate calls: userRate and debit are zero in the configured currency.
func (s *Snapshot) Info(now time.Time) Info {
	return Info{
		From:      s.From,
		To:        s.To,
		Domain:    s.Domain,
		CallID:    s.ID,
		Duration:  s.Duration(now),
		Status:    s.Status(),
		Result:    s.Result,
		Reason:    s.Reason,
		Timestamp: s.StartedAt.UTC().Format("2006-01-02T15:04:05.000Z"),
		Custom:    s.Custom,
		UserRate:  events.Money{CurrencyID: s.Currency},
		Debit:     events.Money{CurrencyID: s.Currency},
		Cookies:   s.cookieList(),
	}
}

// cookieList is the jar in the wire form of events (nil when empty, so
// that events omit it until the first setCookie).
func (s *Snapshot) cookieList() []events.KeyValue {
	all := s.Cookies.All()
	if len(all) == 0 {
		return nil
	}
	out := make([]events.KeyValue, len(all))
	for i, kv := range all {
		out[i] = events.KeyValue(kv)
	}
	return out
}
