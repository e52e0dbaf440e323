// Package config loads the callcore node configuration: one strict YAML file.
//
// [Load] and [Parse] reject what a typo would otherwise hide: unknown keys at
// any depth, values of the wrong shape (a list where a mapping belongs),
// duplicate keys, more than one YAML document, anchors and aliases, and
// invalid values. Every problem is reported, one per line, as
//
//	FILE:LINE: PATH: reason
//
// for example
//
//	callcore.yml:4: api.base_url: must be an absolute http(s) URL without a trailing slash
//
// Defaults and validation live in one function (Config.normalize in
// validate.go); the documentation of each field states its default, unit
// and rules. Credentials are of type [Secret], which never prints its value:
// fmt, log/slog, encoding/json and YAML marshalling all show "<secret>", and
// only [Secret.Reveal] returns it.
//
// A minimal file names the node, the PSTN gateway and one application:
//
//	node: {id: node-a, region: euc1}
//	pstn: {gateway: "sip:127.0.0.1:5070"}
//	apps:
//	  - key: 669E367E-6BBA-48AB-AF15-266871C28135
//	    secret: BeIukql3pTKJ8RGL5zo0DA==
//	    callback_url: http://127.0.0.1:9000/callbacks
package config
