package svaml

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultMaxTTSChars is the TTS length limit used when Limits.MaxTTSChars is 0
// (reference §6.2).
const DefaultMaxTTSChars = 600

// Limits holds the configurable limits of Parse.
type Limits struct {
	// MaxTTSChars is the longest say.text and the longest #tts[...]/#ssml[...]
	// prompt content, in characters (runes). 0 means DefaultMaxTTSChars; a
	// negative value disables the check.
	MaxTTSChars int
}

// Parse parses and validates a SVAML document for ctx with the default limits.
// See Limits.Parse.
func Parse(ctx Context, data []byte) (*Response, error) {
	return Limits{}.Parse(ctx, data)
}

// Parse parses and validates a SVAML document for ctx.
//
// On success it returns the Response with the defaults of reference §6.2
// applied. Otherwise it returns a nil Response and either one
// *ValidationError or, when the document has several problems,
// ValidationErrors (at most 20 are collected). A syntax error stops parsing
// and is returned alone. See the package documentation for the rules.
func (l Limits) Parse(ctx Context, data []byte) (resp *Response, err error) {
	if !ctx.valid() {
		return nil, &ValidationError{Reason: "unknown context " + strconv.Itoa(int(ctx)), Offset: -1, Err: ErrInvalid}
	}
	maxTTS := l.MaxTTSChars
	if maxTTS == 0 {
		maxTTS = DefaultMaxTTSChars
	}
	d := &decoder{data: data, src: string(data), ctx: ctx, maxTTS: maxTTS}
	d.stack, d.scratch = d.stackBuf[:0], d.scratchBuf[:0]
	defer func() {
		if r := recover(); r != nil {
			p, ok := r.(syntaxPanic)
			if !ok {
				panic(r)
			}
			resp, err = nil, p.err
		}
	}()
	resp = d.document()
	switch len(d.errs) {
	case 0:
		return resp, nil
	case 1:
		return nil, d.errs[0]
	default:
		return nil, d.errs
	}
}

var bom = [3]byte{0xEF, 0xBB, 0xBF}

// document parses the top-level object.
func (d *decoder) document() *Response {
	if len(d.data) >= 3 && [3]byte(d.data[:3]) == bom {
		d.pos = 3
	}
	c := d.next()
	if c != '{' {
		d.skipValue()
		d.end()
		d.invalid("", "expected a JSON object, got %s", kindName(c))
		return nil
	}
	resp := &Response{}
	var nAction, nInstr int
	d.object(func(k []byte) {
		switch string(k) {
		case "action":
			nAction++
			if nAction > 1 {
				d.skipValue()
				d.invalid("action", "duplicate: a SVAML document has exactly one action")
				return
			}
			resp.Action = d.action()
		case "instructions":
			nInstr++
			if nInstr > 1 {
				d.skipValue()
				d.invalid("instructions", "duplicate key")
				return
			}
			resp.Instructions = d.instructions()
		default:
			d.skipValue()
		}
	})
	d.end()
	if nAction == 0 {
		d.invalid("action", "missing")
	}
	return resp
}

// end checks that only whitespace follows the document.
func (d *decoder) end() {
	if d.next(); d.pos < len(d.data) {
		d.fail(d.pos, "unexpected data after the top-level value")
	}
}

// findName looks for the "name" member of the object at d.pos. When it finds
// a string it returns it at once, leaving d.pos somewhere inside the object:
// the caller rewinds and decodes the whole object with fields. Otherwise it
// reports a missing or non-string name at key "name", consumes the object and
// returns ok false.
func (d *decoder) findName() (name string, ok bool) {
	d.enter()
	d.pos++
	bad := false
	for first := true; d.more(&first, '}'); {
		if d.next() != '"' {
			d.unexpected("'\"' starting an object key")
		}
		k := d.readKey()
		if d.next() != ':' {
			d.unexpected("':'")
		}
		d.pos++
		if bad || string(d.lower(k)) != "name" {
			d.skipValue()
			continue
		}
		switch d.next() {
		case '"':
			d.leave()
			return d.readString(), true
		case 'n': // null: keep looking
			d.literal("null")
		default:
			d.typeErr("name", "a string")
			bad = true
		}
	}
	d.leave()
	if !bad {
		d.invalid("name", "missing")
	}
	return "", false
}

// fields iterates over the members of an action or instruction object like
// object, but handles "name" itself: it was read by findName and may appear
// only once.
func (d *decoder) fields(fn func(key []byte)) {
	names := 0
	d.object(func(k []byte) {
		if string(k) == "name" {
			names++
			d.skipValue()
			return
		}
		fn(k)
	})
	if names > 1 {
		d.invalid("name", "duplicate key")
	}
}

// skipFields consumes the members of an object without fields of its own.
func (d *decoder) skipFields() { d.fields(func([]byte) { d.skipValue() }) }

// --- actions ----------------------------------------------------------------

const (
	actionsHangup   = inICE | inACE | inPIE | inDiCE | inPatch
	actionsContinue = inACE | inPIE | inPatch
	actionsPSTN     = inICE | inPIE
	actionsMXP      = inICE
	actionsConf     = inICE | inACE | inPIE
	actionsSIP      = inICE | inPIE
	actionsStream   = inICE
	actionsMenu     = inICE | inACE | inPIE
	actionsPark     = inICE | inPatch
)

// action parses the action object (d.pos at its value).
func (d *decoder) action() Action {
	switch d.next() {
	case '{':
	case 'n':
		d.literal("null")
		d.invalid("action", "missing")
		return nil
	case '[':
		d.skipValue()
		d.invalid("action", "expected an object, got array: a SVAML document has exactly one action")
		return nil
	default:
		d.typeErr("action", "an object")
		return nil
	}
	d.push("action")
	defer d.pop()
	start := d.pos
	name, ok := d.findName()
	if !ok {
		return nil
	}
	var a Action
	var mask uint8
	switch string(d.lowerStr(name)) {
	case "hangup":
		a, mask = &Hangup{}, actionsHangup
	case "continue":
		a, mask = &Continue{}, actionsContinue
	case "connectpstn":
		a, mask = &ConnectPSTN{}, actionsPSTN
	case "connectmxp":
		a, mask = &ConnectMXP{}, actionsMXP
	case "connectconf":
		a, mask = &ConnectConf{}, actionsConf
	case "connectsip":
		a, mask = &ConnectSIP{}, actionsSIP
	case "connectstream":
		a, mask = &ConnectStream{}, actionsStream
	case "runmenu":
		a, mask = &RunMenu{}, actionsMenu
	case "park":
		a, mask = &Park{}, actionsPark
	default:
		d.add(ErrUnknownName, "name", "unknown action "+strconv.Quote(name))
		d.pos = start
		d.skipValue()
		return nil
	}
	if !d.ctx.allowed(mask) {
		d.add(ErrNotAllowed, "name", "action "+strconv.Quote(a.ActionName())+" is not allowed in "+d.ctx.where())
	}
	d.pos = start
	switch a := a.(type) {
	case *Hangup, *Continue:
		d.skipFields()
	case *ConnectPSTN:
		d.connectPSTN(a)
	case *ConnectMXP:
		d.connectMXP(a)
	case *ConnectConf:
		d.connectConf(a)
	case *ConnectSIP:
		d.connectSIP(a)
	case *ConnectStream:
		d.connectStream(a)
	case *RunMenu:
		d.runMenu(a)
	case *Park:
		d.park(a)
	}
	return a
}

func (d *decoder) connectPSTN(a *ConnectPSTN) {
	d.fields(func(k []byte) {
		switch string(k) {
		case "number":
			a.Number, _ = d.str("number")
		case "locale":
			a.Locale, _ = d.str("locale")
		case "maxduration":
			a.MaxDuration = d.intRange("maxDuration", 0, MaxDuration)
		case "dialtimeout":
			a.DialTimeout = d.nonNeg("dialTimeout")
		case "cli":
			a.CLI, _ = d.str("cli")
		case "suppresscallbacks":
			a.SuppressCallbacks, _ = d.boolean("suppressCallbacks")
		case "dtmf":
			a.DTMF, _ = d.dtmf("dtmf")
		case "indications":
			a.Indications = d.indications("indications")
		case "amd":
			a.AMD = d.amd("amd")
		default:
			d.skipValue()
		}
	})
	if a.Locale == "" {
		a.Locale = "en-US"
	}
}

func (d *decoder) connectMXP(a *ConnectMXP) {
	d.fields(func(k []byte) {
		switch string(k) {
		case "destination":
			var dst Destination
			if d.destination("destination", "username", &dst) {
				a.Destination = &dst
			}
		case "callheaders":
			a.CallHeaders = d.callHeaders("callHeaders")
		default:
			d.skipValue()
		}
	})
}

func (d *decoder) connectConf(a *ConnectConf) {
	id := false
	d.fields(func(k []byte) {
		switch string(k) {
		case "conferenceid":
			id = d.present()
			if s, ok := d.str("conferenceId"); ok {
				a.ConferenceID = s
				switch n := utf8.RuneCountInString(s); {
				case n == 0:
					d.invalid("conferenceId", "must not be empty")
				case n > MaxConferenceIDLen:
					d.invalid("conferenceId", "has %d characters; the limit is %d", n, MaxConferenceIDLen)
				}
			}
		case "conferencedtmfoptions":
			if d.objectStart("conferenceDtmfOptions") {
				d.push("conferenceDtmfOptions")
				d.conferenceDTMF(&a.DTMFOptions)
				d.pop()
			}
		case "moh", "mohclass":
			a.MOH = d.moh("moh")
		default:
			d.skipValue()
		}
	})
	if !id {
		d.invalid("conferenceId", "missing")
	}
	if a.DTMFOptions.Mode == "" {
		a.DTMFOptions.Mode = DTMFIgnore
	}
	if a.DTMFOptions.MaxDigits == 0 {
		a.DTMFOptions.MaxDigits = 1
	}
	if a.DTMFOptions.TimeoutMills == 0 {
		a.DTMFOptions.TimeoutMills = 3000
	}
}

func (d *decoder) conferenceDTMF(o *ConferenceDTMFOptions) {
	d.object(func(k []byte) {
		switch string(k) {
		case "mode":
			if s, ok := d.str("mode"); ok {
				switch m := DTMFMode(strings.ToLower(s)); m {
				case DTMFIgnore, DTMFForward, DTMFDetect:
					o.Mode = m
				default:
					d.invalid("mode", "unknown value %q, want ignore, forward or detect", s)
				}
			}
		case "maxdigits":
			o.MaxDigits = d.nonNeg("maxDigits")
		case "timeoutmills", "timoutmills": // the docs example misspells it
			o.TimeoutMills = d.nonNeg("timeoutMills")
		default:
			d.skipValue()
		}
	})
}

func (d *decoder) connectSIP(a *ConnectSIP) {
	dst := false
	d.fields(func(k []byte) {
		switch string(k) {
		case "destination":
			dst = d.present()
			d.destination("destination", "sip", &a.Destination)
		case "maxduration":
			a.MaxDuration = d.intRange("maxDuration", 0, MaxDuration)
		case "cli":
			a.CLI, _ = d.str("cli")
		case "transport":
			if s, ok := d.str("transport"); ok {
				switch t := Transport(strings.ToLower(s)); t {
				case TransportUDP, TransportTCP, TransportTLS:
					a.Transport = t
				case "":
				default:
					d.invalid("transport", "unknown value %q, want udp, tcp or tls", s)
				}
			}
		case "suppresscallbacks":
			a.SuppressCallbacks, _ = d.boolean("suppressCallbacks")
		case "callheaders":
			a.CallHeaders = d.callHeaders("callHeaders")
		case "moh":
			a.MOH = d.moh("moh")
		default:
			d.skipValue()
		}
	})
	if !dst {
		d.invalid("destination", "missing")
	}
	if a.Transport == "" {
		a.Transport = TransportUDP
	}
}

func (d *decoder) connectStream(a *ConnectStream) {
	dst := false
	d.fields(func(k []byte) {
		switch string(k) {
		case "destination":
			dst = d.present()
			d.destination("destination", "websocket", &a.Destination)
		case "maxduration":
			a.MaxDuration = d.intRange("maxDuration", 0, MaxDuration)
		case "callheaders":
			a.CallHeaders = d.callHeaders("callHeaders")
		case "streamingoptions":
			if d.objectStart("streamingOptions") {
				o := &StreamingOptions{}
				d.push("streamingOptions")
				d.object(func(k []byte) {
					switch string(k) {
					case "version":
						o.Version = d.nonNeg("version")
					case "samplerate":
						o.SampleRate = d.nonNeg("sampleRate")
					default:
						d.skipValue()
					}
				})
				d.pop()
				a.StreamingOptions = o
			}
		default:
			d.skipValue()
		}
	})
	if !dst {
		d.invalid("destination", "missing")
	}
}

func (d *decoder) runMenu(a *RunMenu) {
	barge := false
	menus := false
	d.fields(func(k []byte) {
		switch string(k) {
		case "barge":
			a.Barge, barge = d.boolean("barge")
		case "locale":
			a.Locale, _ = d.str("locale")
		case "mainmenu":
			a.MainMenu, _ = d.str("mainMenu")
		case "enablevoice":
			a.EnableVoice, _ = d.boolean("enableVoice")
		case "menus":
			menus = d.present()
			if d.arrayStart("menus") {
				d.push("menus")
				a.Menus = a.Menus[:0]
				d.array(func(i int) {
					d.pushIdx(i)
					if a.Menus == nil {
						a.Menus = make([]Menu, 0, 4)
					}
					// Non-objects (reported) keep an empty placeholder so that
					// indexes in later paths match the document.
					a.Menus = append(a.Menus, Menu{})
					if d.objectStart("") {
						d.menu(&a.Menus[len(a.Menus)-1])
					}
					d.pop()
				})
				d.pop()
			}
		default:
			d.skipValue()
		}
	})
	if !barge {
		a.Barge = true
	}
	if a.EnableVoice && a.Locale == "" {
		d.invalid("locale", "required when enableVoice is true")
	}
	if len(a.Menus) == 0 {
		switch {
		case !menus:
			d.invalid("menus", "missing")
		case !d.hasErrAt("menus"):
			d.invalid("menus", "at least one menu is required")
		}
		return
	}
	d.checkMenus(a)
}

// checkMenus checks menu ids, the start menu and menu(...) references.
func (d *decoder) checkMenus(a *RunMenu) {
	d.push("menus")
	for i := range a.Menus {
		id := a.Menus[i].ID
		if id == "" {
			continue // reported as missing
		}
		for j := range i {
			if a.Menus[j].ID == id {
				d.pushIdx(i)
				d.invalid("id", "duplicate menu id %q (also menus[%d])", id, j)
				d.pop()
				break
			}
		}
	}
	for i := range a.Menus {
		for j, o := range a.Menus[i].Options {
			if o.Action.Kind == OptionMenu && !hasMenu(a.Menus, o.Action.Value) {
				d.pushIdx(i)
				d.push("options")
				d.pushIdx(j)
				d.invalid("action", "unknown menu %q", o.Action.Value)
				d.pop()
				d.pop()
				d.pop()
			}
		}
	}
	d.pop()
	switch {
	case a.MainMenu != "":
		if !hasMenu(a.Menus, a.MainMenu) {
			d.invalid("mainMenu", "unknown menu %q", a.MainMenu)
		}
	case hasMenu(a.Menus, "main"):
		a.MainMenu = "main"
	default:
		d.invalid("menus", `no menu has id "main" and mainMenu is not set`)
	}
}

func hasMenu(menus []Menu, id string) bool {
	for i := range menus {
		if menus[i].ID == id {
			return true
		}
	}
	return false
}

func (d *decoder) menu(m *Menu) {
	id := false
	d.object(func(k []byte) {
		switch string(k) {
		case "id":
			id = d.present()
			m.ID, _ = d.str("id")
		case "mainprompt":
			m.MainPrompt = d.prompt("mainPrompt")
		case "repeatprompt":
			m.RepeatPrompt = d.prompt("repeatPrompt")
		case "repeats":
			m.Repeats = d.nonNeg("repeats")
		case "maxdigits":
			m.MaxDigits = d.nonNeg("maxDigits")
		case "timeoutmills":
			m.TimeoutMills = d.nonNeg("timeoutMills")
		case "maxtimeoutmills":
			m.MaxTimeoutMills = d.nonNeg("maxTimeoutMills")
		case "options":
			if d.arrayStart("options") {
				d.push("options")
				m.Options = m.Options[:0]
				d.array(func(i int) {
					d.pushIdx(i)
					o := MenuOption{} // placeholder for a (reported) non-object
					if d.objectStart("") {
						o = d.option()
						if o.DTMF != "" {
							for j := range m.Options {
								if m.Options[j].DTMF == o.DTMF {
									d.invalid("dtmf", "duplicate key %q in this menu", o.DTMF)
									break
								}
							}
						}
					}
					if m.Options == nil {
						m.Options = make([]MenuOption, 0, 4)
					}
					m.Options = append(m.Options, o)
					d.pop()
				})
				d.pop()
			}
		default:
			d.skipValue()
		}
	})
	if !id {
		d.invalid("id", "missing")
	} else if m.ID == "" && !d.hasErrAt("id") {
		d.invalid("id", "must not be empty")
	}
	if m.TimeoutMills == 0 {
		m.TimeoutMills = 5000
	}
	if len(m.Options) == 0 {
		m.Options = nil
	}
}

func (d *decoder) option() MenuOption {
	var o MenuOption
	var hasDTMF, hasAction bool
	d.object(func(k []byte) {
		switch string(k) {
		case "dtmf":
			hasDTMF = d.present()
			var s string
			switch c := d.next(); {
			case c == '"':
				s = d.readString()
			case c == '-' || isDigit(c):
				start, end, _ := d.number()
				s = d.src[start:end]
			case c == 'n':
				d.literal("null")
				return
			default:
				d.typeErr("dtmf", "a string or a number")
				return
			}
			if len(s) == 1 && isDTMFKey(s[0]) {
				o.DTMF = s
			} else {
				d.invalid("dtmf", "must be a single key 0-9, * or #, got %q", s)
			}
		case "action":
			hasAction = d.present()
			if s, ok := d.str("action"); ok {
				if oa, ok := parseOptionAction(s); ok && oa.Value != "" {
					o.Action = oa
				} else {
					d.invalid("action", "must be menu(<menu id>) or return(<value>), got %q", s)
				}
			}
		default:
			d.skipValue()
		}
	})
	if !hasDTMF {
		d.invalid("dtmf", "missing")
	}
	if !hasAction {
		d.invalid("action", "missing")
	}
	return o
}

func isDTMFKey(c byte) bool { return isDigit(c) || c == '*' || c == '#' }

func (d *decoder) park(a *Park) {
	d.fields(func(k []byte) {
		switch string(k) {
		case "locale":
			a.Locale, _ = d.str("locale")
		case "introprompt":
			a.IntroPrompt = d.prompt("introPrompt")
		case "holdprompt":
			a.HoldPrompt = d.prompt("holdPrompt")
		case "maxduration":
			a.MaxDuration = d.intRange("maxDuration", 0, MaxDuration)
		default:
			d.skipValue()
		}
	})
}

// --- shared pieces ----------------------------------------------------------

// destination reads a destination object whose type must be want (any case).
// It reports whether an object was present.
func (d *decoder) destination(key, want string, dst *Destination) bool {
	if !d.objectStart(key) {
		return false
	}
	d.push(key)
	defer d.pop()
	var typ, endpoint string
	var hasType, typeOK, hasEndpoint, endpointOK bool
	d.object(func(k []byte) {
		switch string(k) {
		case "type":
			hasType = d.present()
			typ, typeOK = d.str("type")
		case "endpoint":
			hasEndpoint = d.present()
			endpoint, endpointOK = d.str("endpoint")
		default:
			d.skipValue()
		}
	})
	switch {
	case !hasType:
		d.invalid("type", "missing")
	case typeOK && !strings.EqualFold(typ, want):
		d.invalid("type", "must be %q, got %q", want, typ)
	}
	switch {
	case !hasEndpoint:
		d.invalid("endpoint", "missing")
	case !endpointOK:
	case endpoint == "":
		d.invalid("endpoint", "must not be empty")
	case want == "websocket" && !hasPrefixFold(endpoint, "ws://") && !hasPrefixFold(endpoint, "wss://"):
		d.invalid("endpoint", "must be a ws:// or wss:// URL, got %q", endpoint)
	}
	*dst = Destination{Type: want, Endpoint: endpoint}
	return true
}

// callHeaders reads [{key, value}, ...].
func (d *decoder) callHeaders(key string) []CallHeader {
	if !d.arrayStart(key) {
		return nil
	}
	d.push(key)
	defer d.pop()
	var out []CallHeader
	d.array(func(i int) {
		d.pushIdx(i)
		defer d.pop()
		if !d.objectStart("") {
			return
		}
		var h CallHeader
		hasKey := false
		d.object(func(k []byte) {
			switch string(k) {
			case "key":
				hasKey = d.present()
				h.Key, _ = d.str("key")
			case "value":
				h.Value, _ = d.str("value")
			default:
				d.skipValue()
			}
		})
		switch {
		case !hasKey:
			d.invalid("key", "missing")
		case h.Key == "" && !d.hasErrAt("key"):
			d.invalid("key", "must not be empty")
		}
		out = append(out, h)
	})
	return out
}

func (d *decoder) amd(key string) *AMD {
	if !d.objectStart(key) {
		return nil
	}
	d.push(key)
	defer d.pop()
	a := &AMD{}
	d.object(func(k []byte) {
		switch string(k) {
		case "enabled":
			a.Enabled, _ = d.boolean("enabled")
		case "async":
			a.Async, _ = d.boolean("async")
		default:
			d.skipValue()
		}
	})
	return a
}

func (d *decoder) moh(key string) MusicOnHold {
	s, ok := d.str(key)
	if !ok {
		return ""
	}
	switch m := MusicOnHold(strings.ToLower(s)); m {
	case MOHRing, MOHMusic1, MOHMusic2, MOHMusic3, "":
		return m
	}
	d.invalid(key, "unknown value %q, want ring, music1, music2 or music3", s)
	return ""
}

func (d *decoder) indications(key string) string {
	s, ok := d.str(key)
	if !ok || s == "" {
		return ""
	}
	l := strings.ToLower(s)
	for _, c := range indications {
		if l == c {
			return l
		}
	}
	d.invalid(key, "unknown value %q, want a country code such as se, uk or us", s)
	return ""
}

// dtmf reads a DTMF tone string: 0-9 # * and w. ok is false for null and
// for reported problems.
func (d *decoder) dtmf(key string) (string, bool) {
	s, ok := d.str(key)
	if !ok {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isDTMFKey(c) && c != 'w' {
			r, _ := utf8.DecodeRuneInString(s[i:])
			d.invalid(key, "invalid character %q at position %d, want 0-9, #, * or w", r, i)
			return "", false
		}
	}
	return s, true
}

// present reports whether the value at d.pos is not null.
func (d *decoder) present() bool { return d.next() != 'n' }

// prompt reads and checks a prompt string (may be empty).
func (d *decoder) prompt(key string) string {
	s, ok := d.str(key)
	if !ok {
		return ""
	}
	d.checkPrompts(key, s)
	return s
}

// checkPrompts validates prompt string s and the TTS limit, and returns the
// number of prompts in it.
func (d *decoder) checkPrompts(key, s string) int {
	n := 0
	for i := 0; i < len(s); {
		p, next, err := nextPrompt(s, i)
		if err != nil {
			d.invalid(key, "%s", err.Error())
			return n
		}
		if p.Kind == PromptTTS || p.Kind == PromptSSML {
			if c := utf8.RuneCountInString(p.Value); d.maxTTS >= 0 && c > d.maxTTS {
				tag := "#tts["
				if p.Kind == PromptSSML {
					tag = "#ssml["
				}
				at := i
				for isSpace(s[at]) {
					at++
				}
				d.invalid(key, "%s...] at offset %d has %d characters; the limit is %d", tag, at, c, d.maxTTS)
			}
		}
		if p.Kind != PromptUnknown {
			n++
		}
		i = next
	}
	return n
}

// --- instructions -----------------------------------------------------------

const (
	instrAll      = inICE | inACE | inPIE | inPatch
	instrSendDTMF = inICE | inPIE | inPatch
	instrAnswer   = inICE | inPatch
)

// instructions parses the instructions array (d.pos at its value).
func (d *decoder) instructions() []Instruction {
	if !d.arrayStart("instructions") {
		return nil
	}
	if d.ctx == ContextDiCE && !d.emptyArrayAhead() {
		d.skipValue()
		d.add(ErrNotAllowed, "instructions", "not allowed in "+d.ctx.where())
		return nil
	}
	d.push("instructions")
	defer d.pop()
	var out []Instruction
	d.array(func(i int) {
		d.pushIdx(i)
		if in := d.instruction(); in != nil {
			if out == nil {
				out = make([]Instruction, 0, 4)
			}
			out = append(out, in)
		}
		d.pop()
	})
	return out
}

// instruction parses one instruction object (d.pos at its value).
func (d *decoder) instruction() Instruction {
	if d.next() != '{' {
		d.typeErr("", "an object")
		return nil
	}
	start := d.pos
	name, ok := d.findName()
	if !ok {
		return nil
	}
	var in Instruction
	var mask uint8
	switch string(d.lowerStr(name)) {
	case "playfiles":
		in, mask = &PlayFiles{}, instrAll
	case "say":
		in, mask = &Say{}, instrAll
	case "senddtmf":
		in, mask = &SendDTMF{}, instrSendDTMF
	case "setcookie":
		in, mask = &SetCookie{}, instrAll
	case "answer":
		in, mask = &Answer{}, instrAnswer
	case "startrecording":
		in, mask = &StartRecording{}, instrAll
	case "stoprecording":
		in, mask = &StopRecording{}, instrAll
	default:
		d.add(ErrUnknownName, "name", "unknown instruction "+strconv.Quote(name))
		d.pos = start
		d.skipValue()
		return nil
	}
	if !d.ctx.allowed(mask) {
		d.add(ErrNotAllowed, "name", "instruction "+strconv.Quote(in.InstructionName())+" is not allowed in "+d.ctx.where())
	}
	d.pos = start
	switch in := in.(type) {
	case *Answer, *StopRecording:
		d.skipFields()
	case *PlayFiles:
		d.playFiles(in)
	case *Say:
		d.say(in)
	case *SendDTMF:
		present, ok := false, false
		d.fields(func(k []byte) {
			if string(k) == "value" {
				present = d.present()
				in.Value, ok = d.dtmf("value")
				return
			}
			d.skipValue()
		})
		switch {
		case !present:
			d.invalid("value", "missing")
		case ok && in.Value == "":
			d.invalid("value", "must not be empty")
		}
	case *SetCookie:
		present, ok := false, false
		d.fields(func(k []byte) {
			switch string(k) {
			case "key":
				present = d.present()
				in.Key, ok = d.str("key")
			case "value":
				in.Value, _ = d.str("value")
			default:
				d.skipValue()
			}
		})
		switch {
		case !present:
			d.invalid("key", "missing")
		case ok && in.Key == "":
			d.invalid("key", "must not be empty")
		}
	case *StartRecording:
		d.startRecording(in)
	}
	return in
}

// hasErrAt reports whether the last recorded problem is at the current path + key.
func (d *decoder) hasErrAt(key string) bool {
	return len(d.errs) > 0 && d.errs[len(d.errs)-1].Path == d.path(key)
}

func (d *decoder) playFiles(in *PlayFiles) {
	ids, arr, elems := false, false, 0
	d.fields(func(k []byte) {
		switch string(k) {
		case "ids":
			ids = d.present()
			if !d.arrayStart("ids") {
				return
			}
			arr = true
			d.push("ids")
			in.IDs = in.IDs[:0]
			d.array(func(i int) {
				elems++
				d.pushIdx(i)
				if d.next() == 'n' {
					d.typeErr("", "a string")
				} else if s, ok := d.str(""); ok {
					before := len(d.errs)
					if d.checkPrompts("", s) == 0 && len(d.errs) == before {
						d.invalid("", "empty prompt")
					}
					if in.IDs == nil {
						in.IDs = make([]string, 0, 4)
					}
					in.IDs = append(in.IDs, s)
				}
				d.pop()
			})
			d.pop()
		case "locale":
			in.Locale, _ = d.str("locale")
		default:
			d.skipValue()
		}
	})
	switch {
	case !ids:
		d.invalid("ids", "missing")
	case arr && elems == 0:
		d.invalid("ids", "at least one id is required")
	}
	if len(in.IDs) == 0 {
		in.IDs = nil
	}
}

func (d *decoder) say(in *Say) {
	text := false
	d.fields(func(k []byte) {
		switch string(k) {
		case "text":
			text = d.present()
			if s, ok := d.str("text"); ok {
				in.Text = s
				if s == "" {
					d.invalid("text", "must not be empty")
				} else if n := utf8.RuneCountInString(s); d.maxTTS >= 0 && n > d.maxTTS {
					d.invalid("text", "has %d characters; the limit is %d", n, d.maxTTS)
				}
			}
		case "locale":
			in.Locale, _ = d.str("locale")
		default:
			d.skipValue()
		}
	})
	if !text {
		d.invalid("text", "missing")
	}
}

func (d *decoder) startRecording(in *StartRecording) {
	d.fields(func(k []byte) {
		if string(k) != "options" {
			d.skipValue()
			return
		}
		if !d.objectStart("options") {
			return
		}
		o := &RecordingOptions{}
		notify := false
		d.push("options")
		d.object(func(k []byte) {
			switch string(k) {
			case "destinationurl":
				o.DestinationURL, _ = d.str("destinationUrl")
			case "credentials":
				o.Credentials, _ = d.str("credentials")
			case "format":
				o.Format, _ = d.str("format")
			case "channels":
				if v, ok := d.str("channels"); ok {
					switch strings.ToLower(v) {
					case "mono", "split":
						o.Channels = strings.ToLower(v)
					default:
						d.invalid("channels", "%q is not mono or split", v)
					}
				}
			case "notificationevents":
				o.NotificationEvents, notify = d.boolean("notificationEvents")
			case "transcriptionoptions":
				if d.objectStart("transcriptionOptions") {
					t := &TranscriptionOptions{}
					d.push("transcriptionOptions")
					d.object(func(k []byte) {
						switch string(k) {
						case "enabled":
							t.Enabled, _ = d.boolean("enabled")
						case "locale":
							t.Locale, _ = d.str("locale")
						default:
							d.skipValue()
						}
					})
					d.pop()
					o.Transcription = t
				}
			default:
				d.skipValue()
			}
		})
		if o.DestinationURL == "" && !d.hasErrAt("destinationUrl") {
			d.invalid("destinationUrl", "missing")
		}
		d.pop()
		if o.Format == "" {
			o.Format = "mp3"
		}
		if !notify {
			o.NotificationEvents = true
		}
		in.Options = o
	})
}
