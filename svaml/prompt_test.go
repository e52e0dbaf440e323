package svaml

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParsePrompts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Prompt
	}{
		{"empty string", "", nil},
		{"only separators and spaces", " ; ;\n", nil},
		{"tts", "#tts[Hello from Sinch]", []Prompt{{PromptTTS, "Hello from Sinch"}}},
		{"docs example tts then ssml", `#tts[Hello from Sinch];#ssml[<speak><break time="250ms"/>Have a great day!</speak>]`,
			[]Prompt{{PromptTTS, "Hello from Sinch"}, {PromptSSML, `<speak><break time="250ms"/>Have a great day!</speak>`}}},
		{"brackets inside ssml", "#ssml[<speak>a [b] c</speak>];#tts[x]",
			[]Prompt{{PromptSSML, "<speak>a [b] c</speak>"}, {PromptTTS, "x"}}},
		{"semicolon inside tts is content", "#tts[one; two];#tts[three]",
			[]Prompt{{PromptTTS, "one; two"}, {PromptTTS, "three"}}},
		{"nested brackets", "#tts[a [b [c]] d]", []Prompt{{PromptTTS, "a [b [c]] d"}}},
		{"cdata in ssml", "#ssml[<speak><![CDATA[x]]></speak>]", []Prompt{{PromptSSML, "<speak><![CDATA[x]]></speak>"}}},
		{"href", "#href[https://example.com/a.wav]", []Prompt{{PromptURL, "https://example.com/a.wav"}}},
		{"bare urls", "http://a.example/x.mp3;HTTPS://b.example/y.wav", []Prompt{{PromptURL, "http://a.example/x.mp3"}, {PromptURL, "HTTPS://b.example/y.wav"}}},
		{"file ids", "welcome;menu_2", []Prompt{{PromptFile, "welcome"}, {PromptFile, "menu_2"}}},
		{"tags match any case", "#TTS[a];#Ssml[b];#HREF[http://c]", []Prompt{{PromptTTS, "a"}, {PromptSSML, "b"}, {PromptURL, "http://c"}}},
		{"spaces around parts and empty parts", "  #tts[a] ;; file one ; ", []Prompt{{PromptTTS, "a"}, {PromptFile, "file one"}}},
		{"content is verbatim", "#tts[  spaced  ]", []Prompt{{PromptTTS, "  spaced  "}}},
		{"mixed", "#tts[Hi];https://x.example/y.mp3;#href[http://z.example/w];greeting",
			[]Prompt{{PromptTTS, "Hi"}, {PromptURL, "https://x.example/y.mp3"}, {PromptURL, "http://z.example/w"}, {PromptFile, "greeting"}}},
		{"http prefix only is a file id", "http://", []Prompt{{PromptFile, "http://"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrompts(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParsePromptsErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"unterminated tts", "#tts[Hello", "unterminated #tts[ prompt at offset 0"},
		{"unterminated after good prompt", "#tts[a];#ssml[<speak>", "unterminated #ssml[ prompt at offset 8"},
		{"unbalanced inner bracket", "#tts[press [1 now]", "unterminated #tts[ prompt at offset 0"},
		{"extra closing bracket", "#tts[a]]", "unexpected text after #tts[...] at offset 7"},
		{"text after prompt", "#tts[a] #tts[b]", "unexpected text after #tts[...] at offset 8"},
		{"unknown tag", "#audio[x]", `unknown prompt type "#audio[" at offset 0`},
		{"tag without bracket", "#tts", `stray "#", want #tts[, #ssml[ or #href[ at offset 0`},
		{"lone hash", "a;#", `stray "#", want #tts[, #ssml[ or #href[ at offset 2`},
		{"empty tts", "#tts[]", "empty #tts[] prompt at offset 0"},
		{"empty ssml", "x; #ssml[]", "empty #ssml[] prompt at offset 3"},
		{"href not http", "#href[ftp://x]", "#href[ needs an http:// or https:// URL at offset 0"},
		{"href scheme only", "#href[https://]", "#href[ needs an http:// or https:// URL at offset 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrompts(tt.in)
			require.Nil(t, got)
			var pe *PromptError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tt.want, err.Error())
		})
	}
}

func TestPromptKindString(t *testing.T) {
	require.Equal(t, "unknown", PromptUnknown.String())
	require.Equal(t, "tts", PromptTTS.String())
	require.Equal(t, "ssml", PromptSSML.String())
	require.Equal(t, "url", PromptURL.String())
	require.Equal(t, "file", PromptFile.String())
	require.Equal(t, "unknown", PromptKind(99).String())
}
