package media

import "strings"

// Locale and voice names of the Sinch Voice API (reference §5.5; the Node
// SDK's TtsVoice type and the "voice locales" documentation: a BCP-47
// locale such as "en-US", a locale with a gender such as "en-US/female",
// or an Amazon Polly voice name such as "Joanna", all case-insensitive)
// mapped onto espeak-ng voices. espeak-ng has one voice per language (or
// regional accent); gender is rendered with its variants: female +f3,
// male +m3. A name without gender keeps the language's default voice.

// espeakByLocale maps lower-case BCP-47 tags to espeak-ng voices. Regional
// variants espeak-ng lacks use the nearest accent it has.
var espeakByLocale = map[string]string{
	"af-za": "af", "ar": "ar", "arb": "ar", "ar-ae": "ar", "ar-sa": "ar", "az-az": "az",
	"bg-bg": "bg", "bn-in": "bn", "ca-es": "ca", "cmn-cn": "cmn", "zh-cn": "cmn", "zh-tw": "cmn",
	"yue-cn": "yue", "zh-hk": "yue", "cs-cz": "cs", "cy-gb": "cy", "da-dk": "da",
	"de-de": "de", "de-at": "de", "de-ch": "de", "el-gr": "el",
	"en-us": "en-us", "en-ca": "en-us", "en-gb": "en-gb", "en-gb-wls": "en-gb", "en-au": "en-gb",
	"en-nz": "en-gb", "en-ie": "en-gb", "en-in": "en-gb-x-rp", "en-za": "en-gb", "en-029": "en-029",
	"es-es": "es", "es-mx": "es-419", "es-us": "es-419", "es-419": "es-419", "et-ee": "et",
	"eu-es": "eu", "fa-ir": "fa", "fi-fi": "fi", "fr-fr": "fr-fr", "fr-ca": "fr-fr", "fr-be": "fr-be",
	"fr-ch": "fr-ch", "ga-ie": "ga", "gu-in": "gu", "he-il": "he", "hi-in": "hi", "hr-hr": "hr",
	"hu-hu": "hu", "hy-am": "hy", "id-id": "id", "is-is": "is", "it-it": "it", "ja-jp": "ja",
	"ka-ge": "ka", "kk-kz": "kk", "kn-in": "kn", "ko-kr": "ko", "lt-lt": "lt", "lv-lv": "lv",
	"mk-mk": "mk", "ml-in": "ml", "mr-in": "mr", "ms-my": "ms", "mt-mt": "mt", "my-mm": "my",
	"nb-no": "nb", "no-no": "nb", "ne-np": "ne", "nl-nl": "nl", "nl-be": "nl", "pa-in": "pa",
	"pl-pl": "pl", "pt-pt": "pt", "pt-br": "pt-br", "ro-ro": "ro", "ru-ru": "ru", "sk-sk": "sk",
	"sl-si": "sl", "sq-al": "sq", "sr-rs": "sr", "sv-se": "sv", "sw-ke": "sw", "ta-in": "ta",
	"te-in": "te", "th-th": "th", "tr-tr": "tr", "uk-ua": "uk", "ur-pk": "ur", "vi-vn": "vi",
}

// espeakByLanguage maps a bare language subtag to a voice, for locales not
// in espeakByLocale.
var espeakByLanguage = map[string]string{
	"af": "af", "ar": "ar", "az": "az", "bg": "bg", "bn": "bn", "ca": "ca", "cmn": "cmn", "zh": "cmn",
	"yue": "yue", "cs": "cs", "cy": "cy", "da": "da", "de": "de", "el": "el", "en": "en-us",
	"es": "es", "et": "et", "eu": "eu", "fa": "fa", "fi": "fi", "fr": "fr-fr", "ga": "ga",
	"gu": "gu", "he": "he", "hi": "hi", "hr": "hr", "hu": "hu", "hy": "hy", "id": "id", "is": "is",
	"it": "it", "ja": "ja", "ka": "ka", "kk": "kk", "kn": "kn", "ko": "ko", "lt": "lt", "lv": "lv",
	"mk": "mk", "ml": "ml", "mr": "mr", "ms": "ms", "mt": "mt", "my": "my", "nb": "nb", "no": "nb",
	"ne": "ne", "nl": "nl", "pa": "pa", "pl": "pl", "pt": "pt", "ro": "ro", "ru": "ru", "sk": "sk",
	"sl": "sl", "sq": "sq", "sr": "sr", "sv": "sv", "sw": "sw", "ta": "ta", "te": "te", "th": "th",
	"tr": "tr", "uk": "uk", "ur": "ur", "vi": "vi",
}

type voiceName struct {
	locale string // lower-case key of espeakByLocale
	female bool
}

// pollyVoices maps the voice names Sinch accepts (Amazon Polly voices) to
// their locale and gender.
var pollyVoices = map[string]voiceName{
	// Arabic, Azerbaijani, Bulgarian, Burmese, Catalan, Chinese
	"zeina": {"arb", true}, "hala": {"ar-ae", true}, "zayd": {"ar-ae", false},
	"banu": {"az-az", true}, "babek": {"az-az", false},
	"kalina": {"bg-bg", true}, "boris": {"bg-bg", false},
	"nilar": {"my-mm", true}, "thiha": {"my-mm", false},
	"arlet":   {"ca-es", true},
	"hiugaai": {"zh-hk", true}, "hiumaan": {"zh-hk", true}, "wanlung": {"zh-hk", false},
	"zhiyu": {"cmn-cn", true},
	// Croatian, Czech, Danish, Dutch
	"gabrijela": {"hr-hr", true}, "srecko": {"hr-hr", false},
	"vlasta": {"cs-cz", true}, "jitka": {"cs-cz", true}, "antonin": {"cs-cz", false},
	"naja": {"da-dk", true}, "sofie": {"da-dk", true}, "mads": {"da-dk", false},
	"lotte": {"nl-nl", true}, "laura": {"nl-nl", true}, "ruben": {"nl-nl", false}, "lisa": {"nl-be", true},
	// English
	"nicole": {"en-au", true}, "olivia": {"en-au", true}, "russell": {"en-au", false},
	"amy": {"en-gb", true}, "emma": {"en-gb", true}, "brian": {"en-gb", false}, "arthur": {"en-gb", false},
	"aditi": {"en-in", true}, "raveena": {"en-in", true}, "kajal": {"en-in", true},
	"niamh": {"en-ie", true}, "aria": {"en-nz", true}, "ayanda": {"en-za", true},
	"ivy": {"en-us", true}, "joanna": {"en-us", true}, "kendra": {"en-us", true}, "kimberly": {"en-us", true},
	"salli": {"en-us", true}, "ruth": {"en-us", true}, "danielle": {"en-us", true},
	"joey": {"en-us", false}, "justin": {"en-us", false}, "kevin": {"en-us", false},
	"matthew": {"en-us", false}, "stephen": {"en-us", false}, "gregory": {"en-us", false},
	"geraint": {"en-gb-wls", false}, "gwyneth": {"cy-gb", true},
	// Finnish, French, German
	"suvi":   {"fi-fi", true},
	"celine": {"fr-fr", true}, "céline": {"fr-fr", true}, "lea": {"fr-fr", true}, "léa": {"fr-fr", true},
	"mathieu": {"fr-fr", false}, "remi": {"fr-fr", false}, "rémi": {"fr-fr", false},
	"chantal": {"fr-ca", true}, "gabrielle": {"fr-ca", true}, "liam": {"fr-ca", false},
	"isabelle": {"fr-be", true},
	"marlene":  {"de-de", true}, "vicki": {"de-de", true}, "hans": {"de-de", false}, "daniel": {"de-de", false},
	"hannah": {"de-at", true}, "sabrina": {"de-ch", true},
	// Icelandic, Italian, Japanese, Korean, Norwegian, Polish, Portuguese
	"dora": {"is-is", true}, "dóra": {"is-is", true}, "karl": {"is-is", false},
	"carla": {"it-it", true}, "bianca": {"it-it", true}, "giorgio": {"it-it", false}, "adriano": {"it-it", false},
	"mizuki": {"ja-jp", true}, "kazuha": {"ja-jp", true}, "tomoko": {"ja-jp", true}, "takumi": {"ja-jp", false},
	"seoyeon": {"ko-kr", true},
	"liv":     {"nb-no", true}, "ida": {"nb-no", true},
	"ewa": {"pl-pl", true}, "maja": {"pl-pl", true}, "ola": {"pl-pl", true}, "jacek": {"pl-pl", false}, "jan": {"pl-pl", false},
	"camila": {"pt-br", true}, "vitoria": {"pt-br", true}, "vitória": {"pt-br", true},
	"ricardo": {"pt-br", false}, "thiago": {"pt-br", false},
	"ines": {"pt-pt", true}, "inês": {"pt-pt", true}, "cristiano": {"pt-pt", false},
	// Romanian, Russian, Spanish, Swedish, Turkish
	"carmen":  {"ro-ro", true},
	"tatyana": {"ru-ru", true}, "maxim": {"ru-ru", false},
	"conchita": {"es-es", true}, "lucia": {"es-es", true}, "lucía": {"es-es", true},
	"enrique": {"es-es", false}, "sergio": {"es-es", false},
	"mia": {"es-mx", true}, "andres": {"es-mx", false}, "andrés": {"es-mx", false},
	"lupe": {"es-us", true}, "penelope": {"es-us", true}, "penélope": {"es-us", true},
	"miguel": {"es-us", false}, "pedro": {"es-us", false},
	"astrid": {"sv-se", true}, "elin": {"sv-se", true},
	"filiz": {"tr-tr", true}, "burcu": {"tr-tr", true},
}

// DefaultVoice is the espeak-ng voice for an empty or unknown locale.
const DefaultVoice = "en-us"

// EspeakVoice returns the espeak-ng voice for a Sinch locale or voice name:
// "en-US" → "en-us", "en-GB" → "en-gb", "sv-SE" → "sv", "en-US/female" →
// "en-us+f3", "Joanna" → "en-us+f3", "Matthew" → "en-us+m3". known is false
// when the value was not recognised and DefaultVoice (with the requested
// gender, if any) is used.
func EspeakVoice(locale string) (voice string, known bool) {
	l := strings.ToLower(strings.TrimSpace(locale))
	l = strings.ReplaceAll(l, "_", "-")
	base, gender, _ := strings.Cut(l, "/")
	variant := ""
	switch gender {
	case "female", "f":
		variant = "+f3"
	case "male", "m":
		variant = "+m3"
	}
	if base == "" {
		return DefaultVoice + variant, true // no locale: the default
	}
	if v, ok := pollyVoices[base]; ok {
		if variant == "" {
			variant = "+m3"
			if v.female {
				variant = "+f3"
			}
		}
		return espeakByLocale[v.locale] + variant, true
	}
	if v, ok := espeakByLocale[base]; ok {
		return v + variant, true
	}
	lang, _, _ := strings.Cut(base, "-")
	if v, ok := espeakByLanguage[lang]; ok {
		return v + variant, true
	}
	return DefaultVoice + variant, false
}
