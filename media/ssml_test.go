package media

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNormalizeSSML(t *testing.T) {
	good := []struct{ in, want string }{
		{`<speak>Hello</speak>`, `<speak>Hello</speak>`},
		{"  \n<speak>Hello</speak>\n", `<speak>Hello</speak>`},
		{`<?xml version="1.0"?><speak>Hi</speak>`, `<?xml version="1.0"?><speak>Hi</speak>`},
		{`<!-- greeting --><speak>Hi</speak>`, `<!-- greeting --><speak>Hi</speak>`},
		{`<speak xml:lang="en-US" version="1.1">Hi</speak>`, `<speak xml:lang="en-US" version="1.1">Hi</speak>`},
		{`Hello <break time="1s"/> there`, `<speak>Hello <break time="1s"/> there</speak>`},
		{`Hello`, `<speak>Hello</speak>`},
		{`<p>One</p><p>Two</p>`, `<speak><p>One</p><p>Two</p></speak>`},
		{`<speak>One</speak><speak>Two</speak>`, `<speak><speak>One</speak><speak>Two</speak></speak>`},
		{`<s>One</s>`, `<speak><s>One</s></speak>`},
		{`<?xml version="1.0"?>Hi <break/>`, `<speak>Hi <break/></speak>`},
		{`Tom &amp; Jerry &#33;`, `<speak>Tom &amp; Jerry &#33;</speak>`},
		{`<amazon:effect name="whispered">psst</amazon:effect>`, `<speak><amazon:effect name="whispered">psst</amazon:effect></speak>`},
	}
	for _, tt := range good {
		got, err := NormalizeSSML(tt.in)
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}
	bad := []struct{ in, msg string }{
		{`<speak>Hello`, "unexpected EOF"},
		{`<speak>Hello</speek>`, "line 1: element <speak> closed by </speek>"},
		{`<speak><break time="1s"></speak>`, "element <break> closed by </speak>"},
		{`<speak>Tom & Jerry</speak>`, "invalid character entity"},
		{`<speak>&nbsp;</speak>`, "invalid character entity &nbsp;"},
		{"<speak>\none\n<b x=1/></speak>", "line 3: unquoted or missing attribute value"},
		{`<!DOCTYPE speak [<!ENTITY x "y">]><speak>&x;</speak>`, "<!DOCTYPE> declarations are not allowed"},
		{`</speak>`, "unexpected end element"},
		{`<speak><p>unclosed</speak></p>`, "element <p> closed by </speak>"},
		{strings.Repeat("<s>", 70) + strings.Repeat("</s>", 70), "nested deeper than 64"},
		{"<speak>\x01</speak>", "illegal character code U+0001"},
	}
	for _, tt := range bad {
		_, err := NormalizeSSML(tt.in)
		require.ErrorIs(t, err, ErrInvalidSSML, tt.in)
		require.ErrorContains(t, err, tt.msg, tt.in)
	}
}

func TestEspeakSSML(t *testing.T) {
	tests := []struct{ in, want string }{
		{`<speak>one <break time="1s"/> two</speak>`, `<speak>one <break time="1000ms"></break> two</speak>`},
		{`one <break time="250ms"/> two`, `<speak>one <break time="250ms"></break> two</speak>`},
		{`<break time="1.5s"/><break time=" 2 s "/>`, `<speak><break time="1500ms"></break><break time="2000ms"></break></speak>`},
		{`<break time="1h"/><break time="60s"/>`, `<speak><break></break><break time="10000ms"></break></speak>`},
		{`<break strength="x-strong"/><break strength="loud"/>`, `<speak><break strength="x-strong"></break><break></break></speak>`},
		{`<say-as interpret-as="digits">1234</say-as>`, `<speak>1 2 3 4</speak>`},
		{`<say-as interpret-as="telephone">+46 70-123</say-as>`, `<speak>+4 6 7 0-1 2 3</speak>`},
		{`<say-as interpret-as="digits">12<break time="1s"/>34 ab56</say-as> 78`, `<speak>1 2<break time="1000ms"></break>3 4 ab5 6 78</speak>`},
		{`<say-as interpret-as="characters">abc</say-as>`, `<speak><say-as interpret-as="characters">abc</say-as></speak>`},
		{`<say-as interpret-as="spell-out">abc</say-as>`, `<speak><say-as interpret-as="characters">abc</say-as></speak>`},
		{`<say-as interpret-as="date" format="dmy">1/2/2024</say-as>`, `<speak>1/2/2024</speak>`},
		{`<prosody rate="slow">x</prosody>`, `<speak><prosody rate="slow">x</prosody></speak>`},
		{`<prosody rate="150%" pitch="+10%" volume="+6dB">x</prosody>`, `<speak><prosody rate="150%" pitch="+10%" volume="+6dB">x</prosody></speak>`},
		{`<prosody rate="warp" pitch="1e9" volume="loud" foo="bar">x</prosody>`, `<speak><prosody volume="loud">x</prosody></speak>`},
		{`<sub alias="World Wide Web Consortium">W3C</sub>`, `<speak> World Wide Web Consortium </speak>`},
		{`<sub alias="a &lt; b"><b>W3C</b> x</sub>!`, `<speak> a &lt; b !</speak>`},
		{`<sub>no alias</sub>`, `<speak>no alias</speak>`},
		{`<emphasis level="strong">x</emphasis><emphasis level="max">y</emphasis>`, `<speak><emphasis level="strong">x</emphasis><emphasis>y</emphasis></speak>`},
		{`<p><s>a</s></p>`, `<speak><p><s>a</s></p></speak>`},
		{`<speak xml:lang="fr-FR">x</speak>`, `<speak>x</speak>`},
		{`<audio src="/etc/passwd">fallback</audio><voice name="x">v</voice><lang xml:lang="de">l</lang>`, `<speak>fallbackvl</speak>`},
		{`<amazon:effect name="whispered">psst</amazon:effect><mark name="m"/><phoneme ph="x">p</phoneme>`, `<speak>psstp</speak>`},
		{`<speak>a<speak>b</speak></speak>`, `<speak>ab</speak>`},
		{"<speak>Tom &amp; Jerry &lt;3 \"q\"\nline</speak>", "<speak>Tom &amp; Jerry &lt;3 \"q\"\nline</speak>"},
		{`<!-- c --><?pi x?><speak>x</speak>`, `<speak>x</speak>`},
	}
	for _, tt := range tests {
		got, err := espeakSSML(tt.in)
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}
	_, err := espeakSSML(`<speak>`)
	require.ErrorIs(t, err, ErrInvalidSSML)
}

func FuzzSSML(f *testing.F) {
	for _, s := range []string{
		`<speak>one <break time="1s"/> two</speak>`,
		`Hello <say-as interpret-as="digits">1234</say-as>`,
		`<prosody rate="x-slow">slow</prosody> <sub alias="x">y</sub>`,
		`<?xml version="1.0"?><speak xml:lang="en-US"><p><s>a</s></p></speak>`,
		`<speak>&amp;&#65;<![CDATA[<raw>]]></speak>`,
		`<speak><audio src="x"/><amazon:effect>w</amazon:effect></speak>`,
		`<speak>`, `</speak>`, `a & b`, `<!DOCTYPE x>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		norm, err := NormalizeSSML(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidSSML) {
				t.Fatalf("error %v is not ErrInvalidSSML", err)
			}
			return
		}
		again, err := NormalizeSSML(norm)
		if err != nil || again != norm {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, norm, again, err)
		}
		out, err := espeakSSML(norm)
		if err != nil {
			t.Fatalf("pre-pass failed on normalized %q: %v", norm, err)
		}
		if len(out) > 6*len(in)+64 {
			t.Fatalf("pre-pass grew %d bytes into %d", len(in), len(out))
		}
		// The output is one <speak> element of well-formed XML.
		d := xml.NewDecoder(strings.NewReader(out))
		d.Strict = true
		depth, roots := 0, 0
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("pre-pass output %q of %q is not XML: %v", out, in, err)
			}
			switch tt := tok.(type) {
			case xml.StartElement:
				if depth == 0 {
					roots++
					if tt.Name.Local != "speak" {
						t.Fatalf("root <%s> in %q", tt.Name.Local, out)
					}
				}
				switch tt.Name.Local {
				case "speak", "break", "prosody", "say-as", "emphasis", "p", "s":
				default:
					t.Fatalf("element <%s> passed to espeak-ng: %q", tt.Name.Local, out)
				}
				depth++
			case xml.EndElement:
				depth--
			case xml.CharData:
				if depth == 0 && strings.TrimSpace(string(tt)) != "" {
					t.Fatalf("text outside <speak> in %q", out)
				}
			default:
				t.Fatalf("token %T in %q", tok, out)
			}
		}
		if roots != 1 {
			t.Fatalf("%d roots in %q", roots, out)
		}
	})
}

// ssmlAudio synthesizes a prompt through the engine and returns it.
func ssmlAudio(t *testing.T, e *Engine, text string, ssml bool) []int16 {
	t.Helper()
	src, err := e.TTS(ctxTimeout(t, 30*time.Second), text, "en-US", ssml)
	require.NoError(t, err, text)
	return readAll(t, src, 1e7)
}

// longestSilence returns the longest run of 10 ms frames whose RMS is
// below -50 dBFS, in seconds.
func longestSilence(pcm []int16) float64 {
	const frame = SampleRate / 100
	best, run := 0, 0
	for off := 0; off+frame <= len(pcm); off += frame {
		if rms(pcm[off:off+frame]) < 100 {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return float64(best*frame) / SampleRate
}

func seconds(pcm []int16) float64 { return float64(len(pcm)) / SampleRate }

// The SSML features Sinch prompts use, measured on the audio espeak-ng
// produces (durations of audio, not of the machine).
func TestSSMLAudio(t *testing.T) {
	requireEspeak(t)
	e, _ := newTestEngine(t, nil)

	t.Run("break time", func(t *testing.T) {
		plain := ssmlAudio(t, e, `one two`, false)
		brk := ssmlAudio(t, e, `<speak>one <break time="1s"/> two</speak>`, true)
		require.GreaterOrEqual(t, longestSilence(brk), 0.9)
		require.Less(t, longestSilence(plain), 0.5)
		require.InDelta(t, 1.0, seconds(brk)-seconds(plain), 0.25)
		long := ssmlAudio(t, e, `one <break time="2500ms"/> two`, true) // a bare fragment
		require.GreaterOrEqual(t, longestSilence(long), 2.3)
	})
	t.Run("break strength", func(t *testing.T) {
		var prev float64 = -1
		for _, s := range []string{"none", "medium", "strong", "x-strong"} {
			d := seconds(ssmlAudio(t, e, `<speak>one <break strength="`+s+`"/> two</speak>`, true))
			require.Greater(t, d, prev, s)
			prev = d
		}
	})
	t.Run("say-as digits", func(t *testing.T) {
		number := ssmlAudio(t, e, `<speak>1000000</speak>`, true) // "one million"
		digits := ssmlAudio(t, e, `<speak><say-as interpret-as="digits">1000000</say-as></speak>`, true)
		require.Greater(t, seconds(digits), 1.6*seconds(number))
		// Read one by one, like the digits written apart.
		spaced := ssmlAudio(t, e, `1 0 0 0 0 0 0`, false)
		require.InDelta(t, seconds(spaced), seconds(digits), 0.05)
	})
	t.Run("say-as characters", func(t *testing.T) {
		word := ssmlAudio(t, e, `<speak>hello</speak>`, true)
		for _, as := range []string{"characters", "spell-out"} {
			spelled := ssmlAudio(t, e, `<speak><say-as interpret-as="`+as+`">hello</say-as></speak>`, true)
			require.Greater(t, seconds(spelled), 1.4*seconds(word), as)
		}
	})
	t.Run("prosody rate", func(t *testing.T) {
		const text = "The quick brown fox jumps over the lazy dog."
		rate := func(r string) float64 {
			return seconds(ssmlAudio(t, e, `<speak><prosody rate="`+r+`">`+text+`</prosody></speak>`, true))
		}
		normal := seconds(ssmlAudio(t, e, `<speak>`+text+`</speak>`, true))
		xslow, slow, fast := rate("x-slow"), rate("slow"), rate("fast")
		require.Greater(t, xslow, slow)
		require.Greater(t, slow, normal)
		require.Greater(t, normal, fast)
		half, oneAndHalf := rate("50%"), rate("150%")
		require.Greater(t, half, 1.5*normal)
		require.Less(t, oneAndHalf, 0.85*normal)
	})
	t.Run("malformed", func(t *testing.T) {
		for _, doc := range []string{`<speak>Hello`, `<speak>a & b</speak>`, `<speak><break></speak>`} {
			_, err := e.TTS(context.Background(), doc, "en-US", true)
			require.ErrorIs(t, err, ErrInvalidSSML, doc)
		}
	})
}

func BenchmarkEspeakSSML(b *testing.B) {
	doc := `<speak>Your code is <say-as interpret-as="digits">123456</say-as>. <break time="500ms"/>` +
		`<prosody rate="slow">Please write it down.</prosody> <sub alias="World Wide Web">WWW</sub></speak>`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := espeakSSML(doc); err != nil {
			b.Fatal(err)
		}
	}
}
