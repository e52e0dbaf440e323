package e164

// Bundled numbering data, maintained by hand in a generated-table layout
// (sorted, one entry per line for the code tables) so that a diff against a
// newer source list stays readable.
//
// Sources (compiled from these publications; not fetched at build time):
//   - Country calling codes: "List of ITU-T Recommendation E.164 assigned
//     country codes" (Annex to the ITU Operational Bulletin, complement to
//     ITU-T E.164), including the non-geographic codes of global services
//     and networks. Spare and withdrawn codes (e.g. +384, +388, +671, +684)
//     are absent.
//   - NANP (+1) area codes: NANPA NPA assignments (geographic NPAs of
//     Canada and of the Caribbean and Pacific members; every other NPA is
//     reported as the United States).
//   - +7: the Russian and Kazakh numbering plans (Kazakhstan uses 7 6xx and
//     7 7xx).
//   - Shared codes and number types: the national numbering plans of the
//     regulators (PTS SE, Ofcom GB, BNetzA DE, ARCEP FR, CNMC ES, AGCOM IT,
//     ACM NL, Nkom NO, Energistyrelsen DK, Traficom FI, UKE PL, Anatel BR,
//     DoT/TRAI IN, ACMA AU, BAKOM CH, BIPT BE, ComReg IE, ANACOM PT, MIIT CN,
//     MIC JP, IMDA SG). The prefix classes of CA, SE, GB, DE, DK, FI, PL, KZ,
//     NO, NL, IN and ES were spot-checked against Google libphonenumber
//     metadata (python-phonenumbers region files).
//
// Country values are ISO 3166-1 alpha-2 codes with two documented
// exceptions: "XK" (Kosovo, +383) is the user-assigned code everybody uses,
// and Ascension (+247) is reported as "SH" (Saint Helena, Ascension and
// Tristan da Cunha), the officially assigned code that covers it.
//
// Shared calling codes and how they are split (longest prefix wins, see
// regionPrefixes):
//   - +1 NANP: CA and 23 Caribbean/Pacific countries by area code; every
//     other area code, including the non-geographic 5XX/7XX/8XX/900 ones,
//     is reported as US (as libphonenumber's main country for +1 does).
//   - +7: 7 6xx and 7 7xx are KZ, everything else RU.
//   - +39: 39 06 698 is VA (Vatican City), everything else IT. +379 is
//     reserved for VA but unused; it still maps to VA.
//   - +44: the Crown Dependencies GG, JE and IM by their fixed area codes
//     and mobile blocks, everything else GB.
//   - +47: 47 79 is SJ (Svalbard), everything else NO.
//   - +61: 61 8 9162 is CC, 61 8 9164 is CX, everything else AU.
//   - +212: 212 528 8/9 is EH (Western Sahara), everything else MA.
//   - +262: 262 269 and 262 639 are YT (Mayotte), everything else RE.
//   - +358: 358 18 is AX (Åland), everything else FI.
//   - +590: GP, BL and MF share the number ranges; always reported as GP.
//   - +599: 599 3/4/7 are BQ (Caribbean Netherlands), everything else CW.
//   - +672: 672 1 is AQ (Australian Antarctic bases), everything else NF.
//
// Number types (typePrefixes) are known for the countries listed there. For
// all other countries Parse reports TypeUnknown. NANP numbers are Unknown
// (fixed and mobile share the area codes) except the non-geographic service
// codes, which are Other. Non-geographic calling codes (+800, +881, ...) are
// Other with an empty country.

// callingCodes maps every assigned country calling code to the country that
// owns it (for shared codes: the default before regionPrefixes), or "" for
// the non-geographic codes of global services. E.164 codes are prefix-free,
// so at most one entry matches the start of a number.
var callingCodes = map[string]string{
	"1":   "US", // NANP, split in regionPrefixes
	"20":  "EG",
	"211": "SS",
	"212": "MA", // EH split in regionPrefixes
	"213": "DZ",
	"216": "TN",
	"218": "LY",
	"220": "GM",
	"221": "SN",
	"222": "MR",
	"223": "ML",
	"224": "GN",
	"225": "CI",
	"226": "BF",
	"227": "NE",
	"228": "TG",
	"229": "BJ",
	"230": "MU",
	"231": "LR",
	"232": "SL",
	"233": "GH",
	"234": "NG",
	"235": "TD",
	"236": "CF",
	"237": "CM",
	"238": "CV",
	"239": "ST",
	"240": "GQ",
	"241": "GA",
	"242": "CG",
	"243": "CD",
	"244": "AO",
	"245": "GW",
	"246": "IO",
	"247": "SH", // Ascension
	"248": "SC",
	"249": "SD",
	"250": "RW",
	"251": "ET",
	"252": "SO",
	"253": "DJ",
	"254": "KE",
	"255": "TZ",
	"256": "UG",
	"257": "BI",
	"258": "MZ",
	"260": "ZM",
	"261": "MG",
	"262": "RE", // YT split in regionPrefixes
	"263": "ZW",
	"264": "NA",
	"265": "MW",
	"266": "LS",
	"267": "BW",
	"268": "SZ",
	"269": "KM",
	"27":  "ZA",
	"290": "SH",
	"291": "ER",
	"297": "AW",
	"298": "FO",
	"299": "GL",
	"30":  "GR",
	"31":  "NL",
	"32":  "BE",
	"33":  "FR",
	"34":  "ES",
	"350": "GI",
	"351": "PT",
	"352": "LU",
	"353": "IE",
	"354": "IS",
	"355": "AL",
	"356": "MT",
	"357": "CY",
	"358": "FI", // AX split in regionPrefixes
	"359": "BG",
	"36":  "HU",
	"370": "LT",
	"371": "LV",
	"372": "EE",
	"373": "MD",
	"374": "AM",
	"375": "BY",
	"376": "AD",
	"377": "MC",
	"378": "SM",
	"379": "VA", // reserved, unused
	"380": "UA",
	"381": "RS",
	"382": "ME",
	"383": "XK",
	"385": "HR",
	"386": "SI",
	"387": "BA",
	"389": "MK",
	"39":  "IT", // VA split in regionPrefixes
	"40":  "RO",
	"41":  "CH",
	"420": "CZ",
	"421": "SK",
	"423": "LI",
	"43":  "AT",
	"44":  "GB", // GG, IM, JE split in regionPrefixes
	"45":  "DK",
	"46":  "SE",
	"47":  "NO", // SJ split in regionPrefixes
	"48":  "PL",
	"49":  "DE",
	"500": "FK",
	"501": "BZ",
	"502": "GT",
	"503": "SV",
	"504": "HN",
	"505": "NI",
	"506": "CR",
	"507": "PA",
	"508": "PM",
	"509": "HT",
	"51":  "PE",
	"52":  "MX",
	"53":  "CU",
	"54":  "AR",
	"55":  "BR",
	"56":  "CL",
	"57":  "CO",
	"58":  "VE",
	"590": "GP", // shared with BL and MF
	"591": "BO",
	"592": "GY",
	"593": "EC",
	"594": "GF",
	"595": "PY",
	"596": "MQ",
	"597": "SR",
	"598": "UY",
	"599": "CW", // BQ split in regionPrefixes
	"60":  "MY",
	"61":  "AU", // CC, CX split in regionPrefixes
	"62":  "ID",
	"63":  "PH",
	"64":  "NZ",
	"65":  "SG",
	"66":  "TH",
	"670": "TL",
	"672": "NF", // AQ split in regionPrefixes
	"673": "BN",
	"674": "NR",
	"675": "PG",
	"676": "TO",
	"677": "SB",
	"678": "VU",
	"679": "FJ",
	"680": "PW",
	"681": "WF",
	"682": "CK",
	"683": "NU",
	"685": "WS",
	"686": "KI",
	"687": "NC",
	"688": "TV",
	"689": "PF",
	"690": "TK",
	"691": "FM",
	"692": "MH",
	"7":   "RU", // KZ split in regionPrefixes
	"800": "",   // International Freephone Service
	"808": "",   // International Shared Cost Service
	"81":  "JP",
	"82":  "KR",
	"84":  "VN",
	"850": "KP",
	"852": "HK",
	"853": "MO",
	"855": "KH",
	"856": "LA",
	"86":  "CN",
	"870": "", // Inmarsat
	"878": "", // Universal Personal Telecommunications
	"880": "BD",
	"881": "", // Global Mobile Satellite System
	"882": "", // International Networks
	"883": "", // International Networks
	"886": "TW",
	"888": "", // OCHA telecommunications for disaster relief
	"90":  "TR",
	"91":  "IN",
	"92":  "PK",
	"93":  "AF",
	"94":  "LK",
	"95":  "MM",
	"960": "MV",
	"961": "LB",
	"962": "JO",
	"963": "SY",
	"964": "IQ",
	"965": "KW",
	"966": "SA",
	"967": "YE",
	"968": "OM",
	"970": "PS",
	"971": "AE",
	"972": "IL",
	"973": "BH",
	"974": "QA",
	"975": "BT",
	"976": "MN",
	"977": "NP",
	"979": "", // International Premium Rate Service
	"98":  "IR",
	"991": "", // ITPCS trial
	"992": "TJ",
	"993": "TM",
	"994": "AZ",
	"995": "GE",
	"996": "KG",
	"998": "UZ",
}

// maxRegionPrefix is the length of the longest key of regionPrefixes.
const maxRegionPrefix = 7

// regionPrefixes refines shared calling codes. A key is a calling code
// followed by leading digits of the national significant number; the
// longest key that prefixes a number wins over callingCodes.
var regionPrefixes = map[string]string{
	// +1 NANP: Canada.
	"1204": "CA",
	"1226": "CA",
	"1236": "CA",
	"1249": "CA",
	"1250": "CA",
	"1257": "CA",
	"1263": "CA",
	"1289": "CA",
	"1306": "CA",
	"1343": "CA",
	"1354": "CA",
	"1365": "CA",
	"1367": "CA",
	"1368": "CA",
	"1382": "CA",
	"1403": "CA",
	"1416": "CA",
	"1418": "CA",
	"1428": "CA",
	"1431": "CA",
	"1437": "CA",
	"1438": "CA",
	"1450": "CA",
	"1468": "CA",
	"1474": "CA",
	"1506": "CA",
	"1514": "CA",
	"1519": "CA",
	"1548": "CA",
	"1579": "CA",
	"1581": "CA",
	"1584": "CA",
	"1587": "CA",
	"1600": "CA", // non-geographic
	"1604": "CA",
	"1613": "CA",
	"1622": "CA", // non-geographic
	"1639": "CA",
	"1647": "CA",
	"1672": "CA",
	"1683": "CA",
	"1705": "CA",
	"1709": "CA",
	"1742": "CA",
	"1753": "CA",
	"1778": "CA",
	"1780": "CA",
	"1782": "CA",
	"1807": "CA",
	"1819": "CA",
	"1825": "CA",
	"1867": "CA",
	"1873": "CA",
	"1879": "CA",
	"1902": "CA",
	"1905": "CA",
	"1942": "CA",
	// +1 NANP: Caribbean and Pacific members.
	"1242": "BS",
	"1246": "BB",
	"1264": "AI",
	"1268": "AG",
	"1284": "VG",
	"1340": "VI",
	"1345": "KY",
	"1441": "BM",
	"1473": "GD",
	"1649": "TC",
	"1658": "JM",
	"1664": "MS",
	"1670": "MP",
	"1671": "GU",
	"1684": "AS",
	"1721": "SX",
	"1758": "LC",
	"1767": "DM",
	"1784": "VC",
	"1787": "PR",
	"1809": "DO",
	"1829": "DO",
	"1849": "DO",
	"1868": "TT",
	"1869": "KN",
	"1876": "JM",
	"1939": "PR",
	// +7: Kazakhstan.
	"76": "KZ",
	"77": "KZ",
	// +39: Vatican City.
	"3906698": "VA",
	// +44: Crown Dependencies.
	"441481":  "GG",
	"447781":  "GG",
	"447839":  "GG",
	"4479111": "GG",
	"4479117": "GG",
	"441534":  "JE",
	"447509":  "JE",
	"4477003": "JE",
	"4477007": "JE",
	"4477008": "JE",
	"447797":  "JE",
	"447829":  "JE",
	"447937":  "JE",
	"441624":  "IM",
	"4474576": "IM",
	"447524":  "IM",
	"447624":  "IM",
	"447924":  "IM",
	// +47: Svalbard and Jan Mayen.
	"4779": "SJ",
	// +61: Cocos (Keeling) Islands and Christmas Island.
	"6189162": "CC",
	"6189164": "CX",
	// +212: Western Sahara.
	"2125288": "EH",
	"2125289": "EH",
	// +262: Mayotte.
	"262269": "YT",
	"262639": "YT",
	// +358: Åland.
	"35818": "AX",
	// +599: Bonaire, Sint Eustatius and Saba.
	"5993": "BQ",
	"5994": "BQ",
	"5997": "BQ",
	// +672: Australian Antarctic bases.
	"6721": "AQ",
}

// minDigits is the smallest total digit count (calling code included) of a
// real number. A few small numbering plans have shorter numbers, listed in
// shortPlans.
const minDigits = 8

// shortPlans lists calling codes whose numbers can be shorter than
// minDigits, with their smallest total digit count (4-digit subscriber
// numbers behind a 3-digit code).
var shortPlans = map[string]int{
	"247": 7, // Ascension
	"290": 7, // Saint Helena, Tristan da Cunha
	"683": 7, // Niue
	"690": 7, // Tokelau
}

// fixedLength lists calling codes whose national significant numbers all
// have exactly this many digits (closed numbering plans).
var fixedLength = map[string]int{
	"1": 10, // NANP: NPA-NXX-XXXX
	"7": 10, // Russia, Kazakhstan
}

// Short names keep the type tables readable.
const (
	tf = TypeFixed
	tm = TypeMobile
	to = TypeOther
)

// maxTypePrefix is the length of the longest key of any typePrefixes table.
const maxTypePrefix = 5

// typePrefixes maps a country to leading digits of its national significant
// numbers (without the calling code) and the number type; the longest key
// that prefixes a number wins. Numbers that match no key are TypeUnknown.
// Brazil is classified by a rule instead (see brazilType).
var typePrefixes = map[string]map[string]Type{
	// Sweden: 7[02369] mobile; 10 location-independent, 20 freephone,
	// 71 M2M, 74 pagers, 75 personal, 77/78 shared cost, 900/939/944 premium.
	"SE": {
		"1": tf, "10": to, "2": tf, "20": to, "3": tf, "4": tf, "5": tf, "6": tf, "8": tf, "9": tf,
		"70": tm, "71": to, "72": tm, "73": tm, "74": to, "75": to, "76": tm, "77": to, "78": to, "79": tm,
		"900": to, "939": to, "944": to,
	},
	// United Kingdom: 1/2 geographic; 7 mobile except 70 personal and 76
	// pagers; 3, 5, 8, 9 non-geographic, freephone, special and premium.
	"GB": {
		"1": tf, "2": tf, "3": to, "5": to,
		"7": tm, "70": to, "76": to,
		"8": to, "9": to,
	},
	"GG": {"1481": tf, "7": tm},
	"IM": {"1624": tf, "7": tm},
	"JE": {"1534": tf, "7": tm},
	// Germany: 15x/16x/17x mobile (164/168/169 pagers); 2-9 geographic
	// except 32 national subscriber numbers, 700 personal, 800 freephone and
	// 900 premium; other 1x service numbers.
	"DE": {
		"1": to, "15": tm, "16": tm, "164": to, "168": to, "169": to, "17": tm,
		"2": tf, "3": tf, "32": to, "4": tf, "5": tf, "6": tf,
		"7": tf, "700": to, "8": tf, "800": to, "9": tf, "900": to,
	},
	// France: 1-5 geographic, 6/7 mobile, 8 special and 9 non-geographic
	// (VoIP) numbers.
	"FR": {"1": tf, "2": tf, "3": tf, "4": tf, "5": tf, "6": tm, "7": tm, "8": to, "9": to},
	// Spain: 6 and 71-74 mobile; 8x/9x geographic except 80x/90x special;
	// 51 corporate, 70 personal.
	"ES": {
		"51": to, "6": tm, "70": to, "71": tm, "72": tm, "73": tm, "74": tm,
		"8": tf, "80": to, "9": tf, "90": to,
	},
	// Italy: 0 geographic (the 0 is part of the number), 3 mobile, 8
	// freephone, shared cost and premium.
	"IT": {"0": tf, "3": tm, "8": to},
	"VA": {"0": tf, "3": tm},
	// Netherlands: 6 mobile except 66 pagers and 67 data; 1-5 and 7
	// geographic; 8x (84/85/87 location independent, 88 business, 800
	// freephone) and 9x (90x premium, 97 M2M) other.
	"NL": {
		"1": tf, "2": tf, "3": tf, "4": tf, "5": tf, "7": tf,
		"6": tm, "66": to, "67": to,
		"8": to, "9": to,
	},
	// Norway: 4 and 9 mobile; 2, 3, 5, 6, 7 geographic; 58/59 M2M; 8
	// freephone, shared cost and premium.
	"NO": {
		"2": tf, "3": tf, "4": tm, "5": tf, "58": to, "59": to, "6": tf, "7": tf,
		"8": to, "9": tm,
	},
	"SJ": {"79": tf},
	// Denmark: the mobile and geographic series as allocated by the Danish
	// Energy Agency. Danish numbers can be ported between fixed and mobile
	// networks, so this is the allocation, not a guarantee. 70 nationwide
	// service, 80 freephone, 90 premium.
	"DK": {
		"2": tm, "30": tm, "31": tm, "32": tf, "33": tf, "34": tf, "35": tf, "36": tf, "37": tf, "38": tf, "39": tf,
		"40": tm, "41": tm, "42": tm, "43": tf, "44": tf, "45": tf, "46": tf, "47": tf, "48": tf, "49": tf,
		"50": tm, "51": tm, "52": tm, "53": tm, "54": tf, "55": tf, "56": tf, "57": tf, "58": tf, "59": tf,
		"60": tm, "61": tm, "62": tf, "63": tf, "64": tf, "65": tf, "66": tf, "67": tf, "68": tf, "69": tf,
		"70": to, "71": tm, "72": tf, "73": tf, "74": tf, "75": tf, "76": tf,
		"80": to, "81": tm, "86": tf, "87": tf, "88": tf, "89": tf,
		"90": to, "91": tm, "92": tm, "93": tm, "96": tf, "97": tf, "98": tf, "99": tf,
	},
	// Finland: 4x and 50 mobile; area codes 13-19, 2, 3, 5x, 6, 8, 9
	// geographic; 10, 20x, 29, 30, 60x, 70x, 71, 73, 75 national service
	// numbers, 800 freephone.
	"FI": {
		"10": to, "13": tf, "14": tf, "15": tf, "16": tf, "17": tf, "19": tf,
		"2": tf, "20": to, "29": to, "3": tf, "30": to, "4": tm,
		"50": tm, "51": tf, "52": tf, "53": tf, "54": tf, "55": tf, "56": tf, "57": tf, "58": tf,
		"6": tf, "60": to, "70": to, "71": to, "73": to, "75": to, "8": tf, "800": to, "9": tf,
	},
	"AX": {"18": tf, "4": tm, "50": tm},
	// Poland: mobile blocks and geographic area codes per UKE; 39 VoIP, 64
	// pagers, 70 premium, 80x freephone and shared cost.
	"PL": {
		"12": tf, "13": tf, "14": tf, "15": tf, "16": tf, "17": tf, "18": tf,
		"22": tf, "23": tf, "24": tf, "25": tf, "29": tf,
		"32": tf, "33": tf, "34": tf, "39": to,
		"41": tf, "42": tf, "43": tf, "44": tf, "45": tm, "46": tf, "48": tf,
		"50": tm, "51": tm, "52": tf, "53": tm, "54": tf, "55": tf, "56": tf, "58": tf, "59": tf,
		"60": tm, "61": tf, "62": tf, "63": tf, "64": to, "65": tf, "66": tm, "67": tf, "68": tf, "69": tm,
		"70": to, "71": tf, "72": tm, "73": tm, "74": tf, "75": tf, "76": tf, "77": tf, "78": tm, "79": tm,
		"80": to, "81": tf, "82": tf, "83": tf, "84": tf, "85": tf, "86": tf, "87": tf, "88": tm, "89": tf,
		"91": tf, "94": tf, "95": tf,
	},
	// India: 1-5 are geographic area codes (SDCA) and 9 is mobile. 6, 7 and
	// 8 mix mobile series with SDCA codes (Patna 612, Ahmedabad 79, Bengaluru
	// 80, ...); telling them apart needs the full SDCA list, so they stay
	// Unknown. 140 (telemarketing), 1600, 180x (freephone) and 186x (shared
	// cost, premium) are other.
	"IN": {
		"1": tf, "140": to, "1600": to, "180": to, "186": to,
		"2": tf, "3": tf, "4": tf, "5": tf, "9": tm,
	},
	// Australia: 2, 3, 7, 8 geographic, 4 mobile, 1 (13, 1300, 1800) and 5
	// (personal, location independent) other.
	"AU": {"1": to, "2": tf, "3": tf, "4": tm, "5": to, "7": tf, "8": tf},
	"CC": {"4": tm, "89162": tf},
	"CX": {"4": tm, "89164": tf},
	// United States and Canada: fixed and mobile share the area codes, only
	// the non-geographic service codes are known.
	"US": {
		"500": to, "521": to, "522": to, "533": to, "544": to, "566": to, "577": to, "588": to,
		"700": to, "710": to,
		"800": to, "833": to, "844": to, "855": to, "866": to, "877": to, "888": to,
		"900": to,
	},
	"CA": {"600": to, "622": to},
	// Russia: 9 mobile, 3/4/8 geographic, 80x freephone and premium.
	"RU": {"3": tf, "4": tf, "8": tf, "80": to, "9": tm},
	// Kazakhstan: 71x/72x geographic, mobile blocks 70x, 747, 76x, 77x.
	"KZ": {
		"700": tm, "701": tm, "702": tm, "705": tm, "707": tm, "708": tm,
		"71": tf, "72": tf, "747": tm, "751": to,
		"760": tm, "761": tm, "762": tm, "763": tm, "764": tm,
		"771": tm, "775": tm, "776": tm, "777": tm, "778": tm,
	},
	// Switzerland: 75-79 mobile; 2-6, 71, 81, 91 geographic; 58
	// corporate, 800 freephone, 84 shared cost, 90 premium.
	"CH": {
		"2": tf, "3": tf, "4": tf, "5": tf, "58": to, "6": tf,
		"71": tf, "75": tm, "76": tm, "77": tm, "78": tm, "79": tm,
		"800": to, "81": tf, "84": to, "90": to, "91": tf,
	},
	// Belgium: 46-49 mobile, the rest geographic except 70 premium, 77 M2M,
	// 78 national, 800 freephone, 90 premium.
	"BE": {
		"1": tf, "2": tf, "3": tf, "4": tf, "46": tm, "47": tm, "48": tm, "49": tm,
		"5": tf, "6": tf, "7": tf, "70": to, "77": to, "78": to,
		"8": tf, "800": to, "9": tf, "90": to,
	},
	// Ireland: 83, 85-87, 89 mobile; 1, 2, 4-7, 9 geographic; 76 VoIP.
	"IE": {
		"1": tf, "2": tf, "4": tf, "5": tf, "6": tf, "7": tf, "76": to,
		"83": tm, "85": tm, "86": tm, "87": tm, "89": tm, "9": tf,
	},
	// Portugal: 91-93, 96 mobile; 2 geographic; 30 VoIP; 7 and 8 special.
	"PT": {"2": tf, "30": to, "7": to, "8": to, "91": tm, "92": tm, "93": tm, "96": tm},
	// China: 13-19 mobile; 10 and 2-9 geographic (area code without the
	// trunk 0); 400 and 800 service numbers.
	"CN": {
		"10": tf, "13": tm, "14": tm, "15": tm, "16": tm, "17": tm, "18": tm, "19": tm,
		"2": tf, "3": tf, "4": tf, "400": to, "5": tf, "6": tf, "7": tf, "8": tf, "800": to, "9": tf,
	},
	// Japan: 70, 80, 90 mobile; 20 M2M, 50 IP phone, 120/800 freephone,
	// 570 navi dial, 990 premium; everything else geographic.
	"JP": {
		"1": tf, "120": to, "2": tf, "20": to, "3": tf, "4": tf, "5": tf, "50": to, "570": to,
		"6": tf, "7": tf, "70": tm, "8": tf, "80": tm, "800": to, "9": tf, "90": tm, "990": to,
	},
	// Singapore: 8 and 9 mobile, 6 fixed, 3 VoIP, 800 freephone.
	"SG": {"3": to, "6": tf, "8": tm, "800": to, "9": tm},
}
