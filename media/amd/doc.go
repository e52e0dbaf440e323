// Package amd is callcore's answering-machine detection for connectPstn
// "amd": {"enabled": true, "async": ...}. It is an energy and timing
// detector in the spirit of Asterisk's app_amd, plus a tone detector for the
// voicemail beep that asynchronous AMD reports in a Notify of type amd_beep.
//
// The input is the far leg's audio as the call core's media tap delivers
// it: 8 kHz mono signed 16-bit PCM, normally 160 samples (20 ms) per call.
// Frames of any length are accepted; the analysis runs on consecutive
// 20 ms blocks, so a decision can only happen at a block boundary. Every
// method is allocation-free in the steady state and never blocks, so it can
// run on the media goroutine. A Detector is not safe for concurrent use.
//
// # Voice and silence
//
// Each 20 ms block is voice when its mean absolute amplitude exceeds the
// threshold max(Config.SilenceThreshold, Config.NoiseMargin × noise floor),
// where the noise floor is the lowest block level of the last 2 s
// (minimum statistics, including the current block). Once in voice, the
// threshold drops to max(SilenceThreshold, √NoiseMargin × noise floor)
// (hysteresis: with the default margin 2, voice starts 6 dB and ends 3 dB
// above the floor), so that the quieter phonemes of a word in a noisy line
// do not cut it into several words. Steady line noise therefore counts as
// silence whatever its level, while speech, which has pauses, stays above
// it. With the adaptation on, the first block is never voice (it defines
// the floor). A
// NoiseMargin below 1 turns the adaptation off.
//
// A word is a run of voice of at least Config.MinWordLength; a word ends
// after Config.BetweenWordsSilence of silence. The greeting starts with the
// first word.
//
// # Decision rules
//
// Evaluated after every block, in this order; the first that matches
// decides (Status/Reason as in the Sinch ACE and Notify amd object):
//
//  1. A beep (see below) was heard before any other rule decided:
//     machine/beep.
//  2. No word for Config.InitialSilence since the start (voice blips
//     shorter than a word do not end the initial silence):
//     machine/initialsilence.
//  3. The greeting holds Config.MaxWords words: machine/greeting.
//  4. The greeting holds Config.Greeting of voice in total:
//     machine/longgreeting.
//  5. After the greeting started, Config.AfterGreetingSilence of silence:
//     human/greeting (a short "Hello?" followed by a pause is a person
//     waiting for an answer).
//  6. Config.TotalAnalysisTime of audio without a decision: notsure/n/a.
//
// A call that ends first gets hangup/n/a from Detector.Hangup. Result.Duration
// is the audio analysed until the decision; the Sinch amd.duration field is
// an integer number of seconds, which the caller derives from it.
//
// The reference documents neither the thresholds nor which rule yields
// which reason beyond the value names; the mapping above is callcore's
// choice.
//
// # Beep
//
// A block is tonal when its energy is above the voice threshold, the
// frequency estimated from its (interpolated) zero crossings lies within
// [Config.BeepMinFreq, Config.BeepMaxFreq], and a Goertzel filter at that
// frequency holds at least Config.BeepTonality of the block's energy (a
// pure tone scores close to 1; speech, noise and DTMF's two tones score
// far lower). A beep is a run of consecutive tonal blocks, each within 3%
// (at least 20 Hz) of the run's mean frequency, lasting at least
// Config.BeepMinDuration. It is reported once, with the offset of its
// first block from the start of the audio (±20 ms).
//
// Process and Beep share one clock and one analyser: each block is analysed
// once whichever of the two methods receives it. A frame passed to one
// method right after the same samples were passed to the other is not
// analysed again, so the caller may either pass every frame to both
// methods (in either order) or pass frames to Process until it decides and
// to Beep afterwards.
//
// # Defaults
//
// DefaultConfig: InitialSilence 2.5 s, Greeting 1.5 s, AfterGreetingSilence
// 800 ms, MinWordLength 100 ms, BetweenWordsSilence 50 ms, MaxWords 6,
// TotalAnalysisTime 5 s (Sinch's AMD analyses for 0 to 5 s),
// SilenceThreshold 256 (mean absolute amplitude, about -42 dBFS, as in
// Asterisk), NoiseMargin 2 (6 dB above the floor), BeepMinFreq
// 400 Hz, BeepMaxFreq 2000 Hz, BeepMinDuration 150 ms, BeepTonality 0.8.
// New replaces every zero or negative field with its default.
package amd
