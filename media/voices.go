package media

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrUnknownLocale means a TTS locale or voice name is not in the table of
// Locales. Engine.TTS wraps it as
// `media: unknown TTS locale "xx-YY" (known: see media.Locales)`.
var ErrUnknownLocale = errors.New("media: unknown TTS locale")

// DefaultLocale is the TTS locale of an empty locale string (Sinch's
// default for say, playFiles and connectPstn).
const DefaultLocale = "en-US"

// DefaultVoice is the espeak-ng voice of DefaultLocale.
const DefaultVoice = "en-us"

// Gender is the gender of a TTS voice.
type Gender string

// Genders of "locale/gender" forms and voice names.
const (
	GenderFemale Gender = "female"
	GenderMale   Gender = "male"
)

// espeak-ng variants that render a gender.
const (
	espeakFemale = "+f3"
	espeakMale   = "+m3"
)

// VoiceInfo is a Sinch (Amazon Polly) voice name of a locale.
type VoiceInfo struct {
	Name   string // as Sinch spells it, e.g. "Joanna" or "Céline"
	Gender Gender
}

// LocaleInfo is one row of the TTS locale table: a Sinch locale, the
// espeak-ng voice that renders it and the voice names that select it.
type LocaleInfo struct {
	Locale   string      // Sinch locale, e.g. "en-US"
	Language string      // English name, e.g. "English (US)"
	Espeak   string      // espeak-ng voice, e.g. "en-us"
	Voices   []VoiceInfo // voice names of the locale, in Sinch's order
}

// locales is the TTS locale table. It holds every locale and voice name of
// the Node SDK's TtsVoice type (@sinch/voice, models/v1/enums.ts, in that
// order), then the further locales and voice names of Sinch's "voice
// locales" page and of the Amazon Polly voices behind them (bg-BG, my-MM,
// ar-AE, de-CH, en-IE, fr-BE, nl-BE, yue-CN and extra names of existing
// locales), which earlier callcore versions accepted.
//
// espeak-ng has one voice per language or accent, so regional variants it
// lacks use the nearest one it has: en-AU, en-NZ, en-ZA, en-IE and
// en-GB-WLS speak British English, en-IN the British received
// pronunciation, fr-CA metropolitan French, es-MX and es-US Latin American
// Spanish. Filipino (fil-PH), for which espeak-ng has no voice, is read
// with the Indonesian voice, whose spelling rules (vowels, "ng") are the
// closest; it is intelligible, not native.
var locales = []LocaleInfo{
	{"arb", "Arabic", "ar", voices("Zeina/f")},
	{"az-AZ", "Azerbaijani", "az", voices("Banu/f", "Babek/m")},
	{"ca-ES", "Catalan", "ca", voices("Arlet/f")},
	{"zh-HK", "Chinese (Cantonese)", "yue", voices("HiuGaai/f", "HiuMaan/f", "WanLung/m")},
	{"cmn-CN", "Chinese (Mandarin)", "cmn", voices("Zhiyu/f")},
	{"hr-HR", "Croatian", "hr", voices("Gabrijela/f", "Srecko/m")},
	{"cs-CZ", "Czech", "cs", voices("Vlasta/f", "Antonin/m", "Jitka/f")},
	{"da-DK", "Danish", "da", voices("Naja/f", "Mads/m", "Sofie/f")},
	{"nl-NL", "Dutch", "nl", voices("Lotte/f", "Ruben/m", "Laura/f")},
	{"en-AU", "English (Australia)", "en-gb", voices("Nicole/f", "Olivia/f", "Russell/m")},
	{"en-GB", "English (UK)", "en-gb", voices("Amy/f", "Emma/f", "Brian/m", "Arthur/m")},
	{"en-IN", "English (India)", "en-gb-x-rp", voices("Aditi/f", "Raveena/f", "Kajal/f")},
	{"en-NZ", "English (New Zealand)", "en-gb", voices("Aria/f")},
	{"en-ZA", "English (South Africa)", "en-gb", voices("Ayanda/f")},
	{"en-US", "English (US)", "en-us", voices("Ivy/f", "Joanna/f", "Kendra/f", "Kimberly/f", "Salli/f", "Joey/m", "Justin/m",
		"Kevin/m", "Matthew/m", "Ruth/f", "Danielle/f", "Stephen/m", "Gregory/m")},
	{"en-GB-WLS", "English (Wales)", "en-gb", voices("Geraint/m")},
	{"et-EE", "Estonian", "et", voices("Anu/f", "Kert/m")},
	{"fil-PH", "Filipino", "id", voices("Angelo/m", "Blessica/f")},
	{"fi-FI", "Finnish", "fi", voices("Suvi/f")},
	{"fr-FR", "French", "fr-fr", voices("Céline/f", "Celine/f", "Léa/f", "Mathieu/m", "Lea/f", "Rémi/m", "Remi/m")},
	{"fr-CA", "French (Canada)", "fr-fr", voices("Chantal/f", "Gabrielle/f", "Liam/m")},
	{"ka-GE", "Georgian", "ka", voices("Eka/f", "Giorgi/m")},
	{"de-DE", "German", "de", voices("Marlene/f", "Vicki/f", "Hans/m", "Daniel/m")},
	{"de-AT", "German (Austria)", "de", voices("Hannah/f")},
	{"el-GR", "Greek", "el", voices("Athina/f", "Nestoras/m")},
	{"hi-IN", "Hindi", "hi", voices("Aditi/f", "Kajal/f")},
	{"hu-HU", "Hungarian", "hu", voices("Noemi/f", "Tamas/m")},
	{"is-IS", "Icelandic", "is", voices("Dóra/f", "Dora/f", "Karl/m")},
	{"id-ID", "Indonesian", "id", voices("Ardi/m", "Gadis/f")},
	{"it-IT", "Italian", "it", voices("Carla/f", "Bianca/f", "Giorgio/m", "Adriano/m")},
	{"ja-JP", "Japanese", "ja", voices("Mizuki/f", "Takumi/m", "Kazuha/f", "Tomoko/f")},
	{"ko-KR", "Korean", "ko", voices("Seoyeon/f")},
	{"mt-MT", "Maltese", "mt", voices("Grace/f", "Joseph/m")},
	{"ms-MY", "Malay", "ms", voices("Osman/m", "Yasmin/f")},
	{"nb-NO", "Norwegian", "nb", voices("Liv/f", "Ida/f")},
	{"lv-LV", "Latvian", "lv", voices("Everita/f", "Nils/m")},
	{"lt-LT", "Lithuanian", "lt", voices("Ona/f", "Leonas/m")},
	{"pl-PL", "Polish", "pl", voices("Ewa/f", "Maja/f", "Jacek/m", "Jan/m", "Ola/f")},
	{"pt-BR", "Portuguese (Brazil)", "pt-br", voices("Camila/f", "Vitória/f", "Vitoria/f", "Ricardo/m", "Thiago/m")},
	{"pt-PT", "Portuguese (Portugal)", "pt", voices("Inês/f", "Ines/f", "Cristiano/m")},
	{"ro-RO", "Romanian", "ro", voices("Carmen/f")},
	{"ru-RU", "Russian", "ru", voices("Tatyana/f", "Maxim/m")},
	{"es-ES", "Spanish", "es", voices("Conchita/f", "Lucia/f", "Enrique/m", "Lucía/f", "Sergio/m")},
	{"es-MX", "Spanish (Mexico)", "es-419", voices("Mia/f", "Andrés/m", "Andres/m")},
	{"es-US", "Spanish (US)", "es-419", voices("Lupe/f", "Penélope/f", "Penelope/f", "Miguel/m", "Pedro/m")},
	{"sk-SK", "Slovak", "sk", voices("Viktoria/f", "Lukas/m")},
	{"sl-SI", "Slovenian", "sl", voices("Petra/f", "Rok/m")},
	{"sv-SE", "Swedish", "sv", voices("Astrid/f", "Elin/f")},
	{"th-TH", "Thai", "th", voices("Achara/f", "Niwat/m", "Premwadee/f")},
	{"tr-TR", "Turkish", "tr", voices("Filiz/f", "Burcu/f")},
	{"uk-UA", "Ukrainian", "uk", voices("Polina/f", "Ostap/m")},
	{"uz-UZ", "Uzbek", "uz", voices("Madina/f", "Sardor/m")},
	{"vi-VN", "Vietnamese", "vi", voices("HoaiMy/f", "NamMinh/m")},
	{"cy-GB", "Welsh", "cy", voices("Gwyneth/f")},
	// Sinch's voice locales page and Amazon Polly, beyond the SDK's type.
	{"bg-BG", "Bulgarian", "bg", voices("Kalina/f", "Boris/m")},
	{"my-MM", "Burmese", "my", voices("Nilar/f", "Thiha/m")},
	{"ar-AE", "Arabic (Gulf)", "ar", voices("Hala/f", "Zayd/m")},
	{"de-CH", "German (Switzerland)", "de", voices("Sabrina/f")},
	{"en-IE", "English (Ireland)", "en-gb", voices("Niamh/f")},
	{"fr-BE", "French (Belgium)", "fr-be", voices("Isabelle/f")},
	{"nl-BE", "Dutch (Belgium)", "nl", voices("Lisa/f")},
	{"yue-CN", "Chinese (Cantonese, Polly)", "yue", voices("Hiujin/f")},
}

// voices parses "Name/f" and "Name/m".
func voices(specs ...string) []VoiceInfo {
	out := make([]VoiceInfo, len(specs))
	for i, s := range specs {
		name, g, _ := strings.Cut(s, "/")
		out[i] = VoiceInfo{Name: name, Gender: GenderMale}
		if g == "f" {
			out[i].Gender = GenderFemale
		}
	}
	return out
}

// localeIndex maps lower-case locales to their row; voiceIndex lower-case
// voice names to the row and voice. A name listed under two locales (Aditi
// and Kajal: en-IN and hi-IN) selects the first.
var (
	localeIndex = map[string]int{}
	voiceIndex  = map[string]voiceRef{}
)

type voiceRef struct {
	row   int
	voice VoiceInfo
}

func init() {
	for i, l := range locales {
		localeIndex[strings.ToLower(l.Locale)] = i
		for _, v := range l.Voices {
			if _, dup := voiceIndex[strings.ToLower(v.Name)]; !dup {
				voiceIndex[strings.ToLower(v.Name)] = voiceRef{i, v}
			}
		}
	}
}

// Locales returns the TTS locale table: every locale and voice name that
// Engine.TTS accepts and the espeak-ng voice that renders it. See
// LookupLocale for the accepted forms. The result is a copy.
func Locales() []LocaleInfo {
	out := make([]LocaleInfo, len(locales))
	for i, l := range locales {
		out[i] = l
		out[i].Voices = slices.Clone(l.Voices)
	}
	return out
}

// TTSVoice is a resolved TTS locale or voice name.
type TTSVoice struct {
	Locale string // the Sinch locale, as the table spells it, e.g. "en-US"
	Name   string // the voice name when one was given, e.g. "Joanna"
	Gender Gender // requested or implied by the name; "" for the locale default
	Espeak string // espeak-ng voice with its gender variant, e.g. "en-us+f3"
}

// key is the canonical form of v for cache keys.
func (v TTSVoice) key() string {
	return v.Locale + "/" + v.Name + "/" + string(v.Gender)
}

// LookupLocale resolves a Sinch TTS locale, as the Voice API accepts it
// (case-insensitive, "_" taken for "-"):
//
//   - "" → DefaultLocale (en-US);
//   - a locale of the table: "en-US", "sv-se";
//   - a locale and a gender: "en-US/female", "en-US/male" ("/f" and "/m"
//     also work). Either gender is accepted for every locale, even where
//     Sinch lists voices of one only: espeak-ng renders both;
//   - a voice name: "Joanna", "matthew", "Céline".
//
// A locale alone uses espeak-ng's own voice for the language rather than
// one matching the gender of Sinch's default voice for it (a choice: the
// unmodified espeak-ng voices are the clearest). Genders map to the
// espeak-ng variants +f3 (female) and +m3 (male); a voice name takes the
// variant of its gender. Anything else, a bare language ("en") or a locale
// missing from the table included, fails with ErrUnknownLocale.
func LookupLocale(locale string) (TTSVoice, error) {
	l := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(locale)), "_", "-")
	base, gender, hasGender := strings.Cut(l, "/")
	v := TTSVoice{}
	switch gender {
	case "female", "f":
		v.Gender = GenderFemale
	case "male", "m":
		v.Gender = GenderMale
	default:
		if hasGender {
			return v, unknownLocale(locale)
		}
	}
	if base == "" && !hasGender {
		base = strings.ToLower(DefaultLocale)
	}
	if row, ok := localeIndex[base]; ok {
		v.Locale, v.Espeak = locales[row].Locale, locales[row].Espeak
	} else if ref, ok := voiceIndex[base]; ok && !hasGender {
		v.Locale, v.Espeak = locales[ref.row].Locale, locales[ref.row].Espeak
		v.Name, v.Gender = ref.voice.Name, ref.voice.Gender
	} else {
		return TTSVoice{}, unknownLocale(locale)
	}
	switch v.Gender {
	case GenderFemale:
		v.Espeak += espeakFemale
	case GenderMale:
		v.Espeak += espeakMale
	}
	return v, nil
}

func unknownLocale(locale string) error {
	const maxShown = 64
	if len(locale) > maxShown {
		locale = locale[:maxShown] + "..."
	}
	return fmt.Errorf("%w %q (known: see media.Locales)", ErrUnknownLocale, locale)
}

// EspeakVoice returns the espeak-ng voice for a Sinch locale or voice name
// (see LookupLocale): "en-US" → "en-us", "sv-SE" → "sv", "en-US/female" →
// "en-us+f3", "Joanna" → "en-us+f3", "Matthew" → "en-us+m3". known is false
// when LookupLocale rejects the value; the voice is then DefaultVoice.
// Engine.TTS does not fall back: it fails with ErrUnknownLocale.
func EspeakVoice(locale string) (voice string, known bool) {
	v, err := LookupLocale(locale)
	if err != nil {
		return DefaultVoice, false
	}
	return v.Espeak, true
}
