// Package e164 normalizes and classifies international phone numbers
// (ITU-T Recommendation E.164).
//
// [Parse] turns human input such as "+46 70-123 45 67", "0046701234567" or
// "(+1) 201 555 0100" into a [Number]: the canonical "+<digits>" form, the
// country calling code, the ISO 3166-1 alpha-2 country and a coarse number
// [Type]. Only international input is accepted: a number must start with "+"
// or the "00" international prefix, because a national format ("070-123 45 67")
// cannot be resolved without knowing the caller's country.
//
// [Valid] is the cheap syntactic check used for stored and configured numbers:
// "+" followed by 2 to 15 digits, the first not 0.
//
// All data is bundled in prefixes.go (no network, no files); see the comment
// there for its sources and its known approximations. The classification is
// meant for the Sinch "query number" endpoint (countryId, numberType,
// normalizedNumber) and for input normalization, not for routing or billing.
package e164
